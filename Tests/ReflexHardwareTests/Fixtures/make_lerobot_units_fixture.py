"""Records what LeRobot 0.4.4's own motor-bus code computes, for Reflex to reproduce (LeRobotUnitsTests):

- `units`: `SerialMotorsBus._normalize` over a grid of raw Present_Position ticks and `_unnormalize` over a grid of
  normalized values, for every norm mode, on a Feetech and a Dynamixel bus (drive_mode applied on Feetech only),
  with calibrations that have non-zero homing offsets and drive_mode 1;
- `calibration_text`: the calibration file LeRobot writes (`Robot._save_calibration`, draccus JSON);
- `send_action`: the Goal_Position register values (after sign encoding) that `SO101Follower.send_action` and
  `KochFollower.send_action` hand to the bus for given actions, with and without `use_degrees`.

No servo is connected: the buses are built with a calibration and never opened; `send_action` runs with the bus's
`_sync_write` replaced by a recorder (what it would put on the wire).

Run from the repository root: /work/venv-lerobot/bin/python Tests/ReflexHardwareTests/Fixtures/make_lerobot_units_fixture.py
(any venv with lerobot[feetech,dynamixel]==0.4.4).
"""
import json
import pathlib
import random
import tempfile

import lerobot
from lerobot.motors import Motor, MotorCalibration, MotorNormMode
from lerobot.motors.dynamixel import DynamixelMotorsBus
from lerobot.motors.feetech import FeetechMotorsBus

out = pathlib.Path(__file__).resolve().parent / "lerobot_units.json"

# (bus class, model, calibrations): offsets as a real calibration leaves them, some with drive_mode 1.
CALS = [
    MotorCalibration(id=1, drive_mode=0, homing_offset=-1470, range_min=758, range_max=3292),
    MotorCalibration(id=2, drive_mode=1, homing_offset=153, range_min=817, range_max=3224),
    MotorCalibration(id=3, drive_mode=0, homing_offset=1392, range_min=874, range_max=3087),
    MotorCalibration(id=4, drive_mode=1, homing_offset=-1957, range_min=862, range_max=3178),
    MotorCalibration(id=5, drive_mode=0, homing_offset=-1225, range_min=0, range_max=4095),
    MotorCalibration(id=6, drive_mode=1, homing_offset=1410, range_min=2031, range_max=3509),
]
BUSES = [(FeetechMotorsBus, "sts3215", "feetech"), (DynamixelMotorsBus, "xl330-m288", "dynamixel")]

rng = random.Random(15)
raw_grid = sorted(set([-5, 0, 1, 2047, 2048, 4095, 4100] + [rng.randrange(0, 4096) for _ in range(16)]))
value_grid = {
    "degrees": [-200.0, -180.0, -90.5, -1e-9, 0.0, 0.3, 33.333333, 90.0, 179.99, 200.0] + [rng.uniform(-180, 180) for _ in range(10)],
    "range_m100_100": [-150.0, -100.0, -99.99, -50.5, -1e-9, 0.0, 1e-9, 12.345678, 99.999, 100.0, 150.0] + [rng.uniform(-110, 110) for _ in range(10)],
    "range_0_100": [-20.0, 0.0, 1e-9, 0.5, 49.999, 50.0, 99.5, 100.0, 120.0] + [rng.uniform(-10, 110) for _ in range(10)],
}

units = []
for cls, model, bus_name in BUSES:
    for mode in MotorNormMode:
        motors = {f"m{c.id}": Motor(c.id, model, mode) for c in CALS}
        bus = cls(port="/dev/null", motors=motors, calibration={f"m{c.id}": c for c in CALS})
        for c in CALS:
            normalized = [bus._normalize({c.id: r})[c.id] for r in raw_grid]
            ticks = [bus._unnormalize({c.id: v})[c.id] for v in value_grid[mode.value]]
            units.append({
                "bus": bus_name, "mode": mode.value, "apply_drive_mode": bool(bus.apply_drive_mode),
                "max_res": bus.model_resolution_table[model] - 1,
                "calibration": c.__dict__, "raw": raw_grid, "normalized": normalized,
                "values": value_grid[mode.value], "ticks": ticks,
            })


def robot_on_recording_bus(robot_type, use_degrees, cal_dir):
    """A LeRobot robot whose bus is 'open' but whose wire calls are recorded / scripted, not sent."""
    if robot_type == "koch_follower":
        from lerobot.robots.koch_follower import KochFollower, KochFollowerConfig
        robot = KochFollower(KochFollowerConfig(port="/dev/null", id="reflex", calibration_dir=cal_dir, use_degrees=use_degrees))
    else:
        from lerobot.robots.so_follower import SOFollower, SOFollowerRobotConfig
        cfg = SOFollowerRobotConfig(port="/dev/null", id="reflex", calibration_dir=cal_dir, use_degrees=use_degrees)
        robot = SOFollower(cfg)
    assert robot.calibration, "the calibration file was loaded"
    bus = robot.bus
    bus.port_handler.is_open = True  # is_connected, without a port
    return robot, bus


def wire(robot_type):
    """send_action's Goal_Position register values and get_observation's values for the calibration above."""
    cases = []
    motors = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
    for use_degrees in (False, True):
        with tempfile.TemporaryDirectory() as d:
            # The file LeRobot's calibrate() leaves: motors in the robot's order.
            calibration = {m: CALS[k] for k, m in enumerate(motors)}
            import draccus
            with open(pathlib.Path(d) / "reflex.json", "w") as f, draccus.config_type("json"):
                draccus.dump(calibration, f, indent=4)
            text = (pathlib.Path(d) / "reflex.json").read_text()
            robot, bus = robot_on_recording_bus(robot_type, use_degrees, pathlib.Path(d))
        sent = []
        bus._sync_write = lambda addr, length, ids_values, **kw: sent.append((addr, length, dict(ids_values)))
        scripted = {}
        bus._sync_read = lambda addr, length, ids, **kw: ({i: scripted[i] for i in ids}, 0)
        actions, goals, raws, observations = [], [], [], []
        for _ in range(8):
            a = {f"{m}.pos": rng.uniform(-120, 120) if m != "gripper" else rng.uniform(-10, 110) for m in motors}
            if use_degrees:
                a = {k: (v * 1.6 if k != "gripper.pos" else v) for k, v in a.items()}
            sent.clear()
            robot.send_action(dict(a))
            (addr, length, ids_values), = sent
            assert addr == (42 if robot_type != "koch_follower" else 116)
            actions.append([a[f"{m}.pos"] for m in motors])
            goals.append([ids_values[bus.motors[m].id] for m in motors])
            # get_observation on a bus whose Present_Position registers hold these raw words.
            raw = [rng.randrange(0, 4096) for _ in motors]
            scripted.update({bus.motors[m].id: raw[k] for k, m in enumerate(motors)})
            obs = robot.get_observation()
            raws.append(raw)
            observations.append([obs[f"{m}.pos"] for m in motors])
        cases.append({"use_degrees": use_degrees, "norm_modes": [bus.motors[m].norm_mode.value for m in motors],
                      "actions": actions, "goal_registers": goals, "present_registers": raws,
                      "observations": observations})
    return {"robot_type": robot_type, "calibration_text": text, "cases": cases}


result = {"lerobot_version": lerobot.__version__, "units": units,
          "robots": [wire("so101_follower"), wire("koch_follower")]}
out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
print(f"wrote {out} ({out.stat().st_size} bytes), {len(units)} cases")
