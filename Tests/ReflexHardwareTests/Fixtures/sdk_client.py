"""The vendors' official Python SDKs as clients of Reflex's servo-bus emulator (run by SDKClientTests).

usage: sdk_client.py feetech|dynamixel PORT ID[,ID...]
Pings every id, sync-reads present positions, then writes torque on and goal positions (single writes and a sync
write) and reads them back; prints one JSON object with everything the SDK saw.
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


if __name__ == "__main__":
    kind, port_name, ids = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")]
    print(json.dumps(feetech(port_name, ids) if kind == "feetech" else dynamixel(port_name, ids)))
