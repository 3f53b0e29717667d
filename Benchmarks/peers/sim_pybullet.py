"""pybullet side of `reflex bench sim`: pybullet_data's Franka Panda (loaded as is, fixed base,
URDF_USE_INERTIA_FROM_FILE), every movable joint under POSITION_CONTROL toward a fixed pose (kp 0.1, kd 1.0, force =
URDF effort), dt 1/240 s, timed per stepSimulation in rounds.

  ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sim_pybullet.py [--json]
  ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sim_pybullet.py --compare [--repeats 3]

--compare alternates this measurement with `reflex bench sim --only panda --json` (same rounds and steps) and
prints medians over all rounds of each side, their 10–90% spread and the ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import pybullet as p
import pybullet_data

PANDA = os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def measure(rounds, steps, command_every_step=False):
    cid = p.connect(p.DIRECT)
    p.setGravity(0, 0, -9.81)
    p.setTimeStep(1.0 / 240)
    body = p.loadURDF(PANDA, useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE)
    joints = [j for j in range(p.getNumJoints(body)) if p.getJointInfo(body, j)[2] != p.JOINT_FIXED]
    targets, forces = [], []
    for j in joints:
        info = p.getJointInfo(body, j)
        lo, hi = (info[8], info[9]) if info[8] <= info[9] else (-1.0, 1.0)
        targets.append(lo + 0.6 * (hi - lo))
        forces.append(info[10])
    p.setJointMotorControlArray(body, joints, p.POSITION_CONTROL, targetPositions=targets,
                                positionGains=[0.1] * len(joints), velocityGains=[1.0] * len(joints), forces=forces)
    for _ in range(200):
        p.stepSimulation()
    n = len(joints)
    kp, kd = [0.1] * n, [1.0] * n
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        if command_every_step:
            for _ in range(steps):
                p.setJointMotorControlArray(body, joints, p.POSITION_CONTROL, targetPositions=targets,
                                            positionGains=kp, velocityGains=kd, forces=forces)
                p.stepSimulation()
                p.getJointStates(body, joints)
        else:
            for _ in range(steps):
                p.stepSimulation()
        out.append((time.perf_counter_ns() - t0) / 1000 / steps)
    p.disconnect(cid)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reflex", default=".build/release/reflex")
    args = ap.parse_args()
    if not args.compare:
        r = measure(args.rounds, args.steps)
        summary = {"roundMicros": r, "median_us": statistics.median(r), "pybullet": p.getAPIVersion()}
        print(json.dumps(summary) if args.json else f"pybullet Panda step: {summary['median_us']:.2f} µs median")
        return
    mine = {"panda": [], "pandaControl": []}
    peer = {"panda": [], "pandaControl": []}
    for _ in range(args.repeats):
        text = subprocess.run([args.reflex, "bench", "sim", "--only", "panda", "--panda", PANDA, "--rounds",
                               str(args.rounds), "--steps", str(args.steps), "--json"],
                              check=True, capture_output=True, text=True).stdout
        report = json.loads(text)
        for k in mine:
            mine[k] += report[k]["roundMicros"]
        peer["panda"] += measure(args.rounds, args.steps)
        peer["pandaControl"] += measure(args.rounds, args.steps, command_every_step=True)
    print(f"| figure | Reflex median (p10–p90) | pybullet {p.getAPIVersion()} median (p10–p90) | pybullet / Reflex |")
    print("|---|---|---|---|")
    labels = {"panda": "Panda physics step (POSITION_CONTROL targets set once), 1 thread",
              "pandaControl": "Panda control step: set 9 targets + step + read joint states, 1 thread"}
    for k, label in labels.items():
        a, b = mine[k], peer[k]
        m, q = statistics.median(a), statistics.median(b)
        print(f"| {label} | {m:.1f} µs ({quantile(a, .1):.1f}–{quantile(a, .9):.1f}) = {1e6 / m:,.0f}/s "
              f"| {q:.1f} µs ({quantile(b, .1):.1f}–{quantile(b, .9):.1f}) = {1e6 / q:,.0f}/s | **{q / m:.2f}×** |")


if __name__ == "__main__":
    main()
