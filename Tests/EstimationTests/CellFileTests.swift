import Foundation
import Testing
import Fractional
@testable import Estimation

@Suite struct CellFileTests {
    @Test func placeholder() {}
}
