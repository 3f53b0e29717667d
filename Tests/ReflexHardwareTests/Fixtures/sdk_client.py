"""The vendors' official Python SDKs as clients of Reflex's servo-bus emulator (run by SDKClientTests).

usage: sdk_client.py feetech|dynamixel|feetech-homing|dynamixel-homing|dynamixel-fast PORT ID[,ID...] [OFFSET,...]
Pings every id, sync-reads present positions, then writes torque on and goal positions (single writes and a sync
write) and reads them back; prints one JSON object with everything the SDK saw.
The -homing modes write each servo's Homing_Offset (torque off) and read Present_Position back, broadcast-ping the
bus, read Present_Velocity, and (Dynamixel) try an EEPROM write with torque on.
The dynamixel-fast mode reads Present_Position of every id with one Fast Sync Read (0x8A; dynamixel_sdk >= 3.8).
"""
import json
import sys

# The SDKs wait 2 x LATENCY_TIMER + 2 ms for a reply (34 ms). On a shared 2-core CI machine the emulator thread can
# be descheduled longer than that, so give it slack; the protocol under test is unchanged.
LATENCY_TIMER_MS = 150


def result(out, what, value, res, ph, ok):
    if res == ok:
        return value
    out["errors"].append(f"{what}: {ph.getTxRxResult(res)}")
    return -1


def feetech(port_name, ids):
    import scservo_sdk as scs
    scs.port_handler.LATENCY_TIMER = LATENCY_TIMER_MS
    port = scs.PortHandler(port_name)
    assert port.openPort(), "openPort failed"
    assert port.setBaudRate(1_000_000), "setBaudRate failed"
    ph = scs.PacketHandler(0)
    out = {"models": {}, "present": {}, "goal_readback": {}, "errors": []}
    for i in ids:
        model, res, err = ph.ping(port, i)
        out["models"][i] = result(out, f"ping {i}", model, res, ph, scs.COMM_SUCCESS)
    g = scs.GroupSyncRead(port, ph, 56, 2)
    for i in ids:
        g.addParam(i)
    res = g.txRxPacket()
    if res != scs.COMM_SUCCESS:
        out["errors"].append("syncread " + ph.getTxRxResult(res))
    for i in ids:
        out["present"][i] = g.getData(i, 56, 2)
    res, err = ph.write1ByteTxRx(port, ids[0], 40, 1)
    out["errors"] += [] if res == scs.COMM_SUCCESS else ["write " + ph.getTxRxResult(res)]
    res, err = ph.write2ByteTxRx(port, ids[0], 42, 1111)
    out["errors"] += [] if res == scs.COMM_SUCCESS else ["write " + ph.getTxRxResult(res)]
    w = scs.GroupSyncWrite(port, ph, 42, 2)
    for k, i in enumerate(ids[1:]):
        v = 1500 + 100 * k
        w.addParam(i, [scs.SCS_LOBYTE(v), scs.SCS_HIBYTE(v)])
    w.txPacket()
    for i in ids:
        v, res, err = ph.read2ByteTxRx(port, i, 42)
        out["goal_readback"][i] = result(out, f"read {i}", v, res, ph, scs.COMM_SUCCESS)
    port.closePort()
    return out


def dynamixel(port_name, ids):
    import dynamixel_sdk as dxl
    dxl.port_handler.LATENCY_TIMER = LATENCY_TIMER_MS
    port = dxl.PortHandler(port_name)
    assert port.openPort(), "openPort failed"
    assert port.setBaudRate(1_000_000), "setBaudRate failed"
    ph = dxl.PacketHandler(2.0)
    out = {"models": {}, "present": {}, "goal_readback": {}, "errors": [], "bulk_models": {}}
    for i in ids:
        model, res, err = ph.ping(port, i)
        out["models"][i] = result(out, f"ping {i}", model, res, ph, dxl.COMM_SUCCESS)
    g = dxl.GroupSyncRead(port, ph, 132, 4)
    for i in ids:
        g.addParam(i)
    res = g.txRxPacket()
    if res != dxl.COMM_SUCCESS:
        out["errors"].append("syncread " + ph.getTxRxResult(res))
    for i in ids:
        out["present"][i] = g.getData(i, 132, 4)
    b = dxl.GroupBulkRead(port, ph)
    for i in ids:
        b.addParam(i, 0, 2)
    res = b.txRxPacket()
    if res != dxl.COMM_SUCCESS:
        out["errors"].append("bulkread " + ph.getTxRxResult(res))
    for i in ids:
        out["bulk_models"][i] = b.getData(i, 0, 2)
    res, err = ph.write1ByteTxRx(port, ids[0], 64, 1)
    out["errors"] += [] if res == dxl.COMM_SUCCESS else ["write " + ph.getTxRxResult(res)]
    res, err = ph.write4ByteTxRx(port, ids[0], 116, 1111)
    out["errors"] += [] if res == dxl.COMM_SUCCESS else ["write " + ph.getTxRxResult(res)]
    w = dxl.GroupSyncWrite(port, ph, 116, 4)
    for k, i in enumerate(ids[1:]):
        v = 1500 + 100 * k
        w.addParam(i, [v & 0xFF, (v >> 8) & 0xFF, 0, 0])
    w.txPacket()
    for i in ids:
        v, res, err = ph.read4ByteTxRx(port, i, 116)
        out["goal_readback"][i] = result(out, f"read {i}", v, res, ph, dxl.COMM_SUCCESS)
    port.closePort()
    return out


def feetech_homing(port_name, ids, offsets):
    import scservo_sdk as scs
    scs.port_handler.LATENCY_TIMER = LATENCY_TIMER_MS
    port = scs.PortHandler(port_name)
    assert port.openPort() and port.setBaudRate(1_000_000), "open failed"
    ph = scs.PacketHandler(0)
    out = {"present": {}, "velocity": {}, "broadcast_ids": [], "errors": []}
    for i, off in zip(ids, offsets):
        word = (-off | 0x800) if off < 0 else off  # Homing_Offset: sign-magnitude, sign in bit 11
        res, err = ph.write2ByteTxRx(port, i, 31, word)
        result(out, f"write offset {i}", 0, res, ph, scs.COMM_SUCCESS)
        v, res, err = ph.read2ByteTxRx(port, i, 56)
        out["present"][i] = result(out, f"read present {i}", v, res, ph, scs.COMM_SUCCESS)
        v, res, err = ph.read2ByteTxRx(port, i, 58)
        out["velocity"][i] = result(out, f"read velocity {i}", v, res, ph, scs.COMM_SUCCESS)
    # The SDK has no broadcast ping; this is LeRobot's FeetechMotorsBus._broadcast_ping on the SDK's port calls.
    tx = [0xFF, 0xFF, scs.BROADCAST_ID, 2, scs.INST_PING, 0]
    tx[5] = ~sum(tx[2:5]) & 0xFF
    port.clearPort()
    port.writePort(tx)
    port.setPacketTimeoutMillis(6 * scs.MAX_ID * 0.01 + 3.0 * scs.MAX_ID + 16.0)
    rx = []
    while not port.isPacketTimeout() and len(rx) < 6 * len(ids):
        rx += port.readPort(6 * len(ids) - len(rx))
    for k in range(0, len(rx) - 5, 6):
        pkt = rx[k:k + 6]
        if pkt[0] == 0xFF and pkt[1] == 0xFF and pkt[5] == (~sum(pkt[2:5]) & 0xFF):
            out["broadcast_ids"].append(pkt[2])
    port.closePort()
    return out


def dynamixel_homing(port_name, ids, offsets):
    import dynamixel_sdk as dxl
    dxl.port_handler.LATENCY_TIMER = LATENCY_TIMER_MS
    port = dxl.PortHandler(port_name)
    assert port.openPort() and port.setBaudRate(1_000_000), "open failed"
    ph = dxl.PacketHandler(2.0)
    out = {"present": {}, "velocity": {}, "broadcast_ids": [], "errors": []}
    # EEPROM with torque on: the servo answers with an access error and keeps the old value.
    res, err = ph.write1ByteTxRx(port, ids[0], 64, 1)
    result(out, "torque on", 0, res, ph, dxl.COMM_SUCCESS)
    res, err = ph.write4ByteTxRx(port, ids[0], 20, 1234)
    out["eeprom_torque_on"] = {"comm": ph.getTxRxResult(res), "error": err, "text": ph.getRxPacketError(err)}
    v, res, err = ph.read4ByteTxRx(port, ids[0], 20)
    out["offset_after_refusal"] = result(out, "read offset", v, res, ph, dxl.COMM_SUCCESS)
    res, err = ph.write1ByteTxRx(port, ids[0], 64, 0)
    result(out, "torque off", 0, res, ph, dxl.COMM_SUCCESS)
    for i, off in zip(ids, offsets):
        res, err = ph.write4ByteTxRx(port, i, 20, off & 0xFFFFFFFF)
        result(out, f"write offset {i}", 0, res, ph, dxl.COMM_SUCCESS)
        v, res, err = ph.read4ByteTxRx(port, i, 132)
        out["present"][i] = result(out, f"read present {i}", v - (1 << 32) if v >= 1 << 31 else v, res, ph, dxl.COMM_SUCCESS)
        v, res, err = ph.read4ByteTxRx(port, i, 128)
        out["velocity"][i] = result(out, f"read velocity {i}", v - (1 << 32) if v >= 1 << 31 else v, res, ph, dxl.COMM_SUCCESS)
    found, res = ph.broadcastPing(port)
    result(out, "broadcast ping", 0, res, ph, dxl.COMM_SUCCESS)
    out["broadcast_ids"] = sorted(found)
    port.closePort()
    return out


def dynamixel_fast(port_name, ids):
    import dynamixel_sdk as dxl
    dxl.port_handler.LATENCY_TIMER = LATENCY_TIMER_MS
    port = dxl.PortHandler(port_name)
    assert port.openPort() and port.setBaudRate(1_000_000), "open failed"
    ph = dxl.PacketHandler(2.0)
    out = {"present": {}, "errors": []}
    g = dxl.GroupSyncRead(port, ph, 132, 4)
    for i in ids:
        g.addParam(i)
    res = g.fastSyncRead()
    if res != dxl.COMM_SUCCESS:
        out["errors"].append("fast sync read " + ph.getTxRxResult(res))
    for i in ids:
        v = g.getData(i, 132, 4) if g.isAvailable(i, 132, 4) else None
        out["present"][i] = v - (1 << 32) if v is not None and v >= 1 << 31 else v
    port.closePort()
    return out


if __name__ == "__main__":
    kind, port_name, ids = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")]
    offsets = [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else []
    run = {"feetech": lambda: feetech(port_name, ids), "dynamixel": lambda: dynamixel(port_name, ids),
           "feetech-homing": lambda: feetech_homing(port_name, ids, offsets),
           "dynamixel-homing": lambda: dynamixel_homing(port_name, ids, offsets),
           "dynamixel-fast": lambda: dynamixel_fast(port_name, ids)}[kind]
    print(json.dumps(run()))
