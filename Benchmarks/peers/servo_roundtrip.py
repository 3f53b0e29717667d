"""Peer for `reflex servo bench`: one control tick's bus traffic with the vendors' Python SDKs.

A tick = SYNC READ of every servo's present position + SYNC WRITE of goal positions, the traffic LeRobot's
`bus.sync_read("Present_Position")` / `bus.sync_write("Goal_Position", ...)` make (LeRobot calls these very SDK
classes). Runs against whatever answers on --port (here: Reflex's emulator, the same one Reflex is timed against).

usage: servo_roundtrip.py --bus feetech|dynamixel --port PATH --ids 1,2,3,4,5,6 [--warmup 50 --rounds 30 --calls 50]
prints JSON: {"round_us": [...], "sdk": "..."} (mean microseconds per tick in each round)
"""
import argparse
import json
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--calls", type=int, default=50)
    a = ap.parse_args()
    ids = [int(x) for x in a.ids.split(",")]

    # The SDKs give a reply 2 x LATENCY_TIMER + 2 ms (34 ms); on this shared machine a descheduled emulator thread can
    # exceed that once in thousands of ticks. A longer timeout changes nothing on the happy path being timed.
    if a.bus == "feetech":
        import scservo_sdk as sdk
        sdk.port_handler.LATENCY_TIMER = 150
        port = sdk.PortHandler(a.port)
        ph = sdk.PacketHandler(0)
        addr_pos, addr_goal, width_pos, width_goal = 56, 42, 2, 2
        name = "scservo_sdk (feetech-servo-sdk)"
    else:
        import dynamixel_sdk as sdk
        sdk.port_handler.LATENCY_TIMER = 150
        port = sdk.PortHandler(a.port)
        ph = sdk.PacketHandler(2.0)
        addr_pos, addr_goal, width_pos, width_goal = 132, 116, 4, 4
        name = "dynamixel_sdk"
    assert port.openPort() and port.setBaudRate(1_000_000)
    reader = sdk.GroupSyncRead(port, ph, addr_pos, width_pos)
    for i in ids:
        reader.addParam(i)
    writer = sdk.GroupSyncWrite(port, ph, addr_goal, width_goal)
    for i in ids:
        writer.addParam(i, [0] * width_goal)
    failures = 0

    def tick(n):
        nonlocal failures
        if reader.txRxPacket() != sdk.COMM_SUCCESS:
            failures += 1
            return
        for i in ids:
            p = reader.getData(i, addr_pos, width_pos) + (n % 3)
            writer.changeParam(i, [(p >> (8 * k)) & 0xFF for k in range(width_goal)])
        writer.txPacket()

    for n in range(a.warmup):
        tick(n)
    rounds = []
    for _ in range(a.rounds):
        t0 = time.perf_counter_ns()
        for n in range(a.calls):
            tick(n)
        rounds.append((time.perf_counter_ns() - t0) / 1000 / a.calls)
    port.closePort()
    print(json.dumps({"round_us": rounds, "sdk": name, "failures": failures}))


if __name__ == "__main__":
    main()
