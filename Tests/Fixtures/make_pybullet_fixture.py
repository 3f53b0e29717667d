"""Records pybullet trajectories of Reflex's SO-101 for the physics-parity test (ReflexSimTests/PhysicsParityTests).

Run in the peers venv:  ~/.cache/reflex/peers-venv/bin/python Tests/Fixtures/make_pybullet_fixture.py

Two 2 s runs at dt = 1/240 s, gravity -9.81 on z, fixed base, inertia from the URDF (URDF_USE_INERTIA_FROM_FILE),
the URDF's joint damping:
  * torque:   motors off (VELOCITY_CONTROL, force 0), then a piecewise-constant torque per joint (new value every
              0.1 s: the initial pose's gravity torque plus a small sinusoid) through TORQUE_CONTROL;
  * position: POSITION_CONTROL with kp 0.1, kd 1.0 and the URDF's effort as force, targets changing every 0.5 s.
Inputs are stored per change, joint positions every 4th step (plus the last), rounded to 1e-10 rad.
"""
import json
import math
import os

import pybullet as p

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
URDF = os.path.join(ROOT, "robots", "so101.urdf")
OUT = os.path.join(ROOT, "Tests", "ReflexSimTests", "Fixtures", "pybullet_so101.json")
DT = 1.0 / 240
STEPS = 480
KEEP = 4
INITIAL = [0.0, 0.35, 1.35, 1.45, 0.0, 0.5]


def load():
    p.resetSimulation()
    p.setGravity(0, 0, -9.81)
    p.setTimeStep(DT)
    body = p.loadURDF(URDF, useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE)
    joints = [j for j in range(p.getNumJoints(body)) if p.getJointInfo(body, j)[2] != p.JOINT_FIXED]
    for k, j in enumerate(joints):
        p.resetJointState(body, j, INITIAL[k], 0.0)
    return body, joints


def run(mode, rows, every):
    body, joints = load()
    efforts = [p.getJointInfo(body, j)[10] for j in joints]
    if mode == "torque":
        p.setJointMotorControlArray(body, joints, p.VELOCITY_CONTROL, forces=[0.0] * len(joints))
    out = []
    for t in range(STEPS):
        row = rows[min(t // every, len(rows) - 1)]
        if mode == "torque":
            p.setJointMotorControlArray(body, joints, p.TORQUE_CONTROL, forces=row)
        else:
            p.setJointMotorControlArray(body, joints, p.POSITION_CONTROL, targetPositions=row,
                                        positionGains=[0.1] * len(joints), velocityGains=[1.0] * len(joints),
                                        forces=efforts)
        p.stepSimulation()
        if t % KEEP == KEEP - 1 or t == STEPS - 1:
            out.append([round(s[0], 10) for s in p.getJointStates(body, joints)])
    names = [p.getJointInfo(body, j)[1].decode() for j in joints]
    return names, efforts, out


def main():
    p.connect(p.DIRECT)
    # Torques: the gravity torques of the initial pose (pybullet's inverse dynamics) plus a small sinusoid per
    # joint, held 0.1 s (24 steps) each, so the arm sways about its start instead of crashing into its limits
    # (a chaotic flail would amplify rounding differences, not show physics ones).
    body, joints = load()
    gravity = p.calculateInverseDynamics(body, INITIAL, [0.0] * 6, [0.0] * 6)
    torque_rows = [[round(gravity[i] + 0.03 * math.sin(0.7 * k + 1.3 * i) * (1.0 if i < 5 else 0.2), 6)
                    for i in range(6)] for k in range(20)]
    position_rows = [
        [0.3, 0.6, 1.1, 1.2, 0.4, 0.8],
        [-0.4, 0.2, 1.5, 1.0, -0.6, -0.2],
        [0.1, -0.3, 0.9, 1.6, 0.9, 0.4],
        [0.0, 0.35, 1.35, 1.45, 0.0, 0.0],
    ]
    names, efforts, torque_out = run("torque", torque_rows, 24)
    _, _, position_out = run("position", position_rows, 120)
    fixture = {
        "source": f"pybullet {p.getAPIVersion()} (Tests/Fixtures/make_pybullet_fixture.py)",
        "urdf": "robots/so101.urdf",
        "dt": DT, "steps": STEPS, "gravity": -9.81, "keep_every": KEEP, "joints": names,
        "initial": INITIAL,
        "torque": {"hold_steps": 24, "inputs": torque_rows, "positions": torque_out},
        "position": {"hold_steps": 120, "kp": 0.1, "kd": 1.0, "forces": efforts, "inputs": position_rows,
                     "positions": position_out},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
