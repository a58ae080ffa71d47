"""Reads the simulated cycler with pymodbus and prints what it found, one
`name value` pair per line, for comparison with cellbench's own reading.

Usage: read_cycler.py PORT
"""
import struct
import sys

from pymodbus.client import ModbusTcpClient


def main():
    client = ModbusTcpClient("127.0.0.1", port=int(sys.argv[1]))
    if not client.connect():
        sys.exit("cannot connect")
    device = client.read_input_registers(0, count=20, slave=1).registers
    model = b"".join(struct.pack(">H", w) for w in device[2:18]).rstrip(b"\0").decode()
    print("map_version", device[0])
    print("channels", device[1])
    print("model", model)
    channel = client.read_input_registers(1000, count=25, slave=1).registers
    print("state", channel[0])
    print("newest", (channel[18] << 16) | channel[19])
    # A value that is not allowed must come back as exception 03.
    refused = client.write_registers(1008, [0, 0], slave=1)
    print("refused_exception", getattr(refused, "exception_code", 0))
    client.close()


if __name__ == "__main__":
    main()
