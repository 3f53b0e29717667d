"""Physics parity of `reflex sim trace` with pybullet on any URDF (default: pybullet_data's Franka Panda, loaded as
is), under torque control and under POSITION_CONTROL, 2 s at dt = 1/240 s, gravity -9.81 on z, fixed base,
URDF_USE_INERTIA_FROM_FILE (or pybullet's default inertia from the collision shapes with --default-inertia), the
URDF's joint damping.

  ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sim_parity.py [--urdf PATH] [--reflex .build/release/reflex]

Torques: the start pose's gravity torques (pybullet inverse dynamics) plus a small sinusoid per joint, new every
0.1 s. Position targets: four poses inside the joint limits, 0.5 s each, kp 0.1, kd 1.0, force = the URDF effort.
Prints the largest joint-position difference (rad, or m for prismatic joints) per mode, and JSON with --json.
"""
import argparse
import json
import math
import os
import subprocess
import tempfile

import numpy as np
import pybullet as p
import pybullet_data

DT = 1.0 / 240
STEPS = 480


FLAGS = p.URDF_USE_INERTIA_FROM_FILE


def setup(urdf):
    p.resetSimulation()
    p.setGravity(0, 0, -9.81)
    p.setTimeStep(DT)
    body = p.loadURDF(urdf, useFixedBase=True, flags=FLAGS)
    joints = [j for j in range(p.getNumJoints(body)) if p.getJointInfo(body, j)[2] != p.JOINT_FIXED]
    return body, joints


def limits(body, joints):
    lo = np.array([p.getJointInfo(body, j)[8] for j in joints])
    hi = np.array([p.getJointInfo(body, j)[9] for j in joints])
    unlimited = lo > hi
    lo[unlimited], hi[unlimited] = -math.pi, math.pi
    return lo, hi


def pybullet_run(urdf, mode, rows, initial, forces):
    body, joints = setup(urdf)
    for k, j in enumerate(joints):
        p.resetJointState(body, j, initial[k], 0.0)
    if mode == "torque":
        p.setJointMotorControlArray(body, joints, p.VELOCITY_CONTROL, forces=[0.0] * len(joints))
    out = []
    for t in range(STEPS):
        row = list(rows[t])
        if mode == "torque":
            p.setJointMotorControlArray(body, joints, p.TORQUE_CONTROL, forces=row)
        else:
            p.setJointMotorControlArray(body, joints, p.POSITION_CONTROL, targetPositions=row,
                                        positionGains=[0.1] * len(joints), velocityGains=[1.0] * len(joints),
                                        forces=forces)
        p.stepSimulation()
        out.append([s[0] for s in p.getJointStates(body, joints)])
    return np.array(out)


def reflex_run(reflex, urdf, mode, rows, initial, forces):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        np.savetxt(f, rows, delimiter=",", fmt="%.17g")
        path = f.name
    cmd = [reflex, "sim", "trace", "--urdf", urdf, "--control", mode, "--inputs", path, "--dt", repr(DT),
           "--steps", str(STEPS), "--initial", ",".join(repr(x) for x in initial),
           "--inertia", "urdf" if FLAGS & p.URDF_USE_INERTIA_FROM_FILE else "shapes"]
    if mode == "position":
        cmd += ["--kp", "0.1", "--kd", "1.0", "--max-force", ",".join(repr(x) for x in forces)]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    os.unlink(path)
    return np.loadtxt(text.splitlines(), delimiter=",", ndmin=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--urdf", default=os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf"))
    ap.add_argument("--reflex", default=".build/release/reflex")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--default-inertia", action="store_true",
                    help="load without URDF_USE_INERTIA_FROM_FILE (inertia from the collision shapes) on both sides")
    args = ap.parse_args()
    global FLAGS
    if args.default_inertia:
        FLAGS = 0
    p.connect(p.DIRECT)
    body, joints = setup(args.urdf)
    n = len(joints)
    lo, hi = limits(body, joints)
    forces = [float(p.getJointInfo(body, j)[10]) for j in joints]
    initial = [float(x) for x in lo + 0.5 * (hi - lo)]
    gravity = p.calculateInverseDynamics(body, initial, [0.0] * n, [0.0] * n)
    torque = np.array([[gravity[i] + 0.03 * max(1.0, abs(gravity[i])) * math.sin(0.7 * (t // 24) + 1.3 * i)
                        for i in range(n)] for t in range(STEPS)])
    rng = np.random.default_rng(0)
    poses = [lo + (0.2 + 0.6 * rng.random(n)) * (hi - lo) for _ in range(4)]
    position = np.array([poses[min(t // 120, 3)] for t in range(STEPS)])
    report = {"urdf": args.urdf, "joints": n, "steps": STEPS, "dt": DT}
    for mode, rows in (("torque", torque), ("position", position)):
        ref = pybullet_run(args.urdf, mode, rows, initial, forces)
        mine = reflex_run(args.reflex, args.urdf, mode, rows, initial, forces)
        err = np.abs(ref - mine)
        report[mode] = {"max_abs_error": float(err.max()), "max_abs_error_at_1s": float(err[:240].max()),
                        "per_joint": err.max(axis=0).tolist()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{os.path.basename(args.urdf)}: {n} movable joints, {STEPS} steps of {DT:.6f} s")
        for mode in ("torque", "position"):
            r = report[mode]
            print(f"  {mode:8s} max |Δq| over 2 s {r['max_abs_error']:.3g}   (first 1 s {r['max_abs_error_at_1s']:.3g})")


if __name__ == "__main__":
    main()
