"""Byte-parity fixture for Reflex's Feetech and Dynamixel 2.0 encoders.

Drives the vendors' own Python SDKs -- scservo_sdk (feetech-servo-sdk) and dynamixel_sdk (dynamixel-sdk) -- against a
fake port that records every byte written, for ping / read / write / sync write / sync read / bulk read with several
ids, addresses and values, and writes Tests/ReflexHardwareTests/Fixtures/servo_packets.json.

Run: ~/.cache/reflex/peers-venv/bin/python Tests/Fixtures/make_servo_fixture.py

Finding (dynamixel-sdk 4.1.0): Protocol2PacketHandler.txPacket calls addStuffing(txpacket) and ignores its result;
when stuffing is needed addStuffing builds a *new* list and returns it, so the caller's packet is left unstuffed and
the wire carries `FF FF FD` inside the body without the extra `FD` (the C++ SDK and the e-Manual stuff it). For those
cases the fixture keeps both: "python" (what the Python SDK really sends) and "stuffed" (the same packet passed
through the SDK's own addStuffing return value, with the CRC recomputed by its own updateCRC), which is what Reflex
sends.
"""
import json
import os

import dynamixel_sdk as dxl
import scservo_sdk as scs


class RecordingPort:
    """Quacks like the SDKs' PortHandler; records writes, never answers (reads time out at once)."""

    def __init__(self, baud=1_000_000):
        self.is_using = False
        self.written = []
        self.baud = baud

    def clearPort(self):
        pass

    def writePort(self, packet):
        self.written.append(bytes(packet))
        return len(packet)

    def readPort(self, length):
        return b""

    def setPacketTimeout(self, packet_length):
        pass

    def setPacketTimeoutMillis(self, msec):
        pass

    def isPacketTimeout(self):
        return True

    def getBaudRate(self):
        return self.baud


def record(fn):
    port = RecordingPort()
    fn(port)
    assert len(port.written) >= 1, "the SDK wrote nothing"
    return port.written[0]


def feetech_cases():
    ph = scs.PacketHandler(0)
    cases = []

    def add(call, args, fn):
        cases.append({"protocol": "feetech", "call": call, "args": args, "python": record(fn).hex()})

    for i in [1, 6, 0x20]:
        add("ping", {"id": i}, lambda p, i=i: ph.ping(p, i))
    for i, a, n in [(1, 56, 2), (3, 3, 2), (6, 40, 1), (2, 56, 8)]:
        add("read", {"id": i, "address": a, "length": n}, lambda p, i=i, a=a, n=n: ph.readTxRx(p, i, a, n))
    for i, a, w, v in [(1, 42, 2, 2048), (2, 40, 1, 1), (5, 42, 2, 0x8010), (4, 31, 2, 0x0805), (3, 46, 2, 0xFD)]:
        if w == 1:
            fn = lambda p, i=i, a=a, v=v: ph.write1ByteTxRx(p, i, a, v)
        else:
            fn = lambda p, i=i, a=a, v=v: ph.write2ByteTxRx(p, i, a, v)
        add("write", {"id": i, "address": a, "width": w, "value": v}, fn)
    for a, w, items in [(42, 2, [(1, 2048), (2, 1000), (3, 3000), (4, 0x8005), (5, 4095), (6, 10)]),
                        (40, 1, [(1, 1), (6, 0)])]:
        def sw(p, a=a, w=w, items=items):
            g = scs.GroupSyncWrite(p, ph, a, w)
            for i, v in items:
                g.addParam(i, [scs.SCS_LOBYTE(v), scs.SCS_HIBYTE(v)][:w])
            g.txPacket()
        add("syncWrite", {"address": a, "width": w, "ids": [i for i, _ in items], "values": [v for _, v in items]}, sw)
    for a, n, ids in [(56, 2, [1, 2, 3, 4, 5, 6]), (56, 6, [1, 3])]:
        def sr(p, a=a, n=n, ids=ids):
            g = scs.GroupSyncRead(p, ph, a, n)
            for i in ids:
                g.addParam(i)
            g.txPacket()
        add("syncRead", {"address": a, "length": n, "ids": ids}, sr)
    return cases


def stuffed(ph, raw):
    """The packet as the e-Manual (and the C++ SDK) put it on the wire: the SDK's own addStuffing result."""
    pkt = list(raw[:-2])
    pkt[5] = (len(raw) - 7) & 0xFF
    pkt[6] = (len(raw) - 7) >> 8
    pkt += [0, 0]
    out = ph.addStuffing(pkt)
    n = dxl.DXL_MAKEWORD(out[5], out[6]) + 7
    out = list(out[:n])
    crc = ph.updateCRC(0, out, n - 2)
    out[n - 2] = dxl.DXL_LOBYTE(crc)
    out[n - 1] = dxl.DXL_HIBYTE(crc)
    return bytes(out)


def dynamixel_cases():
    ph = dxl.PacketHandler(2.0)
    cases = []

    def add(call, args, fn):
        raw = record(fn)
        case = {"protocol": "dynamixel", "call": call, "args": args, "python": raw.hex()}
        s = stuffed(ph, raw)
        if s != raw:
            case["stuffed"] = s.hex()
        cases.append(case)

    for i in [1, 7, 0xFD]:
        add("ping", {"id": i}, lambda p, i=i: ph.ping(p, i))
    for i, a, n in [(1, 132, 4), (2, 0, 2), (5, 70, 1), (3, 126, 10)]:
        add("read", {"id": i, "address": a, "length": n}, lambda p, i=i, a=a, n=n: ph.readTxRx(p, i, a, n))
    for i, a, w, v in [(1, 116, 4, 2048), (2, 64, 1, 1), (3, 116, 4, -1 & 0xFFFFFFFF), (4, 104, 4, 0x00FDFFFF),
                       (5, 116, 4, 0x01FDFFFF), (6, 84, 2, 640)]:
        fn = {1: lambda p, i=i, a=a, v=v: ph.write1ByteTxRx(p, i, a, v),
              2: lambda p, i=i, a=a, v=v: ph.write2ByteTxRx(p, i, a, v),
              4: lambda p, i=i, a=a, v=v: ph.write4ByteTxRx(p, i, a, v)}[w]
        add("write", {"id": i, "address": a, "width": w, "value": v}, fn)
    for a, w, items in [(116, 4, [(1, 2048), (2, 1024), (3, 3000), (4, 0xFFFFFFFF), (5, 0), (6, 4095)]),
                        (64, 1, [(1, 1), (2, 1)]), (116, 4, [(1, 0xFFFDFFFF), (2, 7)])]:
        def sw(p, a=a, w=w, items=items):
            g = dxl.GroupSyncWrite(p, ph, a, w)
            for i, v in items:
                g.addParam(i, [(v >> (8 * k)) & 0xFF for k in range(w)])
            g.txPacket()
        add("syncWrite", {"address": a, "width": w, "ids": [i for i, _ in items], "values": [v for _, v in items]}, sw)
    for a, n, ids in [(132, 4, [1, 2, 3, 4, 5, 6]), (126, 10, [2, 9])]:
        def sr(p, a=a, n=n, ids=ids):
            g = dxl.GroupSyncRead(p, ph, a, n)
            for i in ids:
                g.addParam(i)
            g.txPacket()
        add("syncRead", {"address": a, "length": n, "ids": ids}, sr)
    for items in [[(1, 132, 4), (2, 126, 2), (3, 70, 1)], [(7, 0, 2)]]:
        def br(p, items=items):
            g = dxl.GroupBulkRead(p, ph)
            for i, a, n in items:
                g.addParam(i, a, n)
            g.txPacket()
        add("bulkRead", {"ids": [i for i, _, _ in items], "addresses": [a for _, a, _ in items],
                         "lengths": [n for _, _, n in items]}, br)
    return cases


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "ReflexHardwareTests", "Fixtures", "servo_packets.json")
    cases = feetech_cases() + dynamixel_cases()
    doc = {
        "generator": "Tests/Fixtures/make_servo_fixture.py",
        "feetech_servo_sdk": "scservo_sdk (feetech-servo-sdk 1.0.0)",
        "dynamixel_sdk": getattr(dxl, "__version__", "4.1.0"),
        "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(out)}; "
          f"{sum('stuffed' in c for c in cases)} where dynamixel_sdk does not byte-stuff")


if __name__ == "__main__":
    main()
