"""An independent implementation of the reference cycler register map
(cycler-modbus.md) on pymodbus, used to check cellbench's cycler driver
against software it did not write.

Usage: cycler_server.py PORT
Channel 0 takes a record every 0.05 s from start; record n has
voltage 3.0 + 0.001 n V, current 0.5 A, temperature 25 degC, charge n/1000 Ah.
Prints "ready" once listening.
"""
import struct
import sys
import threading
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartTcpServer

INTERVAL = 0.05
DEPTH = 4096
BASE = 1000
START = time.monotonic()
lock = threading.Lock()
acknowledged = 0


def words_u32(v):
    return [(v >> 16) & 0xFFFF, v & 0xFFFF]


def words_f32(v):
    return list(struct.unpack(">HH", struct.pack(">f", v)))


def words_f64(v):
    return list(struct.unpack(">HHHH", struct.pack(">d", v)))


def newest():
    return int((time.monotonic() - START) / INTERVAL)


def record(n):
    return (words_u32(n) + words_f64(n * INTERVAL) + words_f32(3.0 + 0.001 * n)
            + words_f32(0.5) + words_f32(25.0) + words_f64(n / 1000.0))


def channel_input():
    with lock:
        top = newest()
        oldest = max(acknowledged + 1, top - DEPTH + 1, 1)
        dropped = max(0, top - DEPTH - acknowledged)
    r = [0] * 128
    r[0] = 2
    r[4:6] = words_f32(3.0 + 0.001 * top)
    r[6:8] = words_f32(0.5)
    r[8:10] = words_f32(25.0)
    r[14:18] = words_f64(top * INTERVAL)
    r[18:20] = words_u32(top)
    r[20:22] = words_u32(oldest if oldest <= top else 0)
    r[22:24] = words_u32(dropped)
    window = list(range(oldest, top + 1))[:6]
    r[24] = len(window)
    for k, n in enumerate(window):
        r[32 + 16 * k: 48 + 16 * k] = record(n)
    return r


# pymodbus 3.9's slave context passes wire address + 1 to its blocks.
class InputBlock(ModbusSequentialDataBlock):
    def getValues(self, address, count=1):
        image = [1, 1] + [0] * 16 + words_u32(1)
        out = []
        for a in range(address - 1, address - 1 + count):
            if a < 20:
                out.append(image[a])
            elif BASE <= a < BASE + 128:
                out.append(channel_input()[a - BASE])
            else:
                out.append(0)
        return out


class HoldingBlock(ModbusSequentialDataBlock):
    def setValues(self, address, values):
        global acknowledged
        super().setValues(address, values)
        image = super().getValues(BASE + 21, 2)
        with lock:
            acknowledged = max(acknowledged, (image[0] << 16) | image[1])


def main():
    port = int(sys.argv[1])
    # pymodbus 3.9 uses the given ir/hr blocks only when a di block is given too.
    device = ModbusSlaveContext(di=ModbusSequentialDataBlock(0, [0]), ir=InputBlock(0, [0] * 1200), hr=HoldingBlock(0, [0] * 1200))
    context = ModbusServerContext(slaves=device, single=True)
    print("ready", flush=True)
    StartTcpServer(context=context, address=("127.0.0.1", port))


if __name__ == "__main__":
    main()
