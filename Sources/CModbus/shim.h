#include <modbus.h>
