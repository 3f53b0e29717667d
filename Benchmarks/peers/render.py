"""pybullet side of `reflex bench render`: getCameraImage(renderer=ER_TINY_RENDERER) frame time (RGB, depth and
segmentation, pybullet's default light, numpy arrays out) at 96×96 and 640×480 on the scenes Reflex renders:

- so101: robots/so101.urdf at its home pose (fixed base), the table (a plane with a thin box visual) and the 3 cm cube
  0.2 m in front, seen by the lift task's front camera (eye 0.55 0 0.35, target 0.15 0 0.05, fov 60);
- panda: pybullet_data's franka_panda/panda.urdf (joints at zero), the same table and a 5 cm cube at x = 0.5, seen
  from eye 1.4 0.3 0.9 towards 0.2 0 0.4 (fov 60).

One thread, 3 warm-up frames, then rounds of frames timed per round (the same counts as Reflex's side).

  "$(Benchmarks/peers/setup.sh)" Benchmarks/peers/render.py [--json]
  "$(Benchmarks/peers/setup.sh)" Benchmarks/peers/render.py --compare [--repeats 2]

--compare alternates this measurement with `reflex bench render --json` and prints medians over all rounds of each
side, their 10–90% spread and the ratio; --cpu-time makes both sides time with the thread's CPU clock.

--agreement has `reflex bench render --dump` write one frame per scene and size and compares it with pybullet's:
segmentation agreement (fraction of equal pixels), depth |Δ| where both hit the same object (median, max) and colour
mean |Δ| per channel.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np

import pybullet as p
import pybullet_data

HERE = os.path.dirname(os.path.abspath(__file__))
SO101 = os.path.join(HERE, "..", "..", "robots", "so101.urdf")
PANDA = os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")
SO101_HOME = [0.0, 0.35, 1.35, 1.45, 0.0, 0.9]
TABLE_HALF, TABLE_CENTER, TABLE_RGBA = [0.4, 0.4, 0.01], [0.2, 0.0, -0.01], [0.8, 0.65, 0.45, 1.0]
CUBE_RGBA = [0.85, 0.15, 0.1, 1.0]
SIZES = [(96, 96), (640, 480)]
CAMERAS = {"so101": ([0.55, 0.0, 0.35], [0.15, 0.0, 0.05]), "panda": ([1.4, 0.3, 0.9], [0.2, 0.0, 0.4])}


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def build(scene):
    cid = p.connect(p.DIRECT)
    if scene == "so101":
        arm = p.loadURDF(SO101, [0, 0, 0], useFixedBase=True)
        for j, q in enumerate(SO101_HOME):
            p.resetJointState(arm, j, q)
        half, pos = 0.015, [0.2, 0.0, 0.015]
    else:
        p.loadURDF(PANDA, [0, 0, 0], useFixedBase=True)
        half, pos = 0.025, [0.5, 0.0, 0.025]
    p.createMultiBody(baseMass=0, baseCollisionShapeIndex=p.createCollisionShape(p.GEOM_PLANE),
                      baseVisualShapeIndex=p.createVisualShape(p.GEOM_BOX, halfExtents=TABLE_HALF, rgbaColor=TABLE_RGBA,
                                                               visualFramePosition=TABLE_CENTER))
    p.createMultiBody(baseMass=0.03, baseCollisionShapeIndex=p.createCollisionShape(p.GEOM_BOX, halfExtents=[half] * 3),
                      baseVisualShapeIndex=p.createVisualShape(p.GEOM_BOX, halfExtents=[half] * 3, rgbaColor=CUBE_RGBA),
                      basePosition=pos)
    return cid


def measure(scene, rounds, frames, clock=time.perf_counter_ns):
    cid = build(scene)
    eye, target = CAMERAS[scene]
    view = p.computeViewMatrix(eye, target, [0, 0, 1])
    out = {}
    for w, h in SIZES:
        proj = p.computeProjectionMatrixFOV(60, w / h, 0.01, 5)
        calls = frames if w <= 96 else max(2, frames // 5)
        for _ in range(3):
            p.getCameraImage(w, h, view, proj, renderer=p.ER_TINY_RENDERER)
        rs = []
        for _ in range(rounds):
            t0 = clock()
            for _ in range(calls):
                p.getCameraImage(w, h, view, proj, renderer=p.ER_TINY_RENDERER)
            rs.append((clock() - t0) / 1000 / calls)
        out[f"{scene}.{w}x{h}"] = rs
    p.disconnect(cid)
    return out


def agreement(args):
    scenes = args.only.split(",")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([args.reflex, "bench", "render", "--only", args.only, "--panda", PANDA, "--rounds", "1", "--frames",
                        "2", "--dump", out, "--json"], check=True, capture_output=True, text=True)
        print("| scene, size | segmentation agreement | depth error, median / max | colour error, mean per channel (0–255) |")
        print("|---|---|---|---|")
        for scene in scenes:
            cid = build(scene)
            eye, target = CAMERAS[scene]
            view = p.computeViewMatrix(eye, target, [0, 0, 1])
            for w, h in SIZES:
                proj = p.computeProjectionMatrixFOV(60, w / h, 0.01, 5)
                _, _, rgba, depth, seg = p.getCameraImage(w, h, view, proj, renderer=p.ER_TINY_RENDERER)
                seg, depth = np.asarray(seg).reshape(h, w), np.asarray(depth, dtype=np.float32).reshape(h, w)
                rgb = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].astype(int)
                base = os.path.join(out, f"{scene}.{w}x{h}")
                mseg = np.fromfile(base + ".seg.i32", dtype="<i4").reshape(h, w)
                mdepth = np.fromfile(base + ".depth.f32", dtype="<f4").reshape(h, w)
                mrgb = np.fromfile(base + ".rgb.u8", dtype=np.uint8).reshape(h, w, 3).astype(int)
                both = (seg == mseg) & (seg >= 0)
                dd = np.abs(depth[both] - mdepth[both])
                print(f"| {scene}.{w}x{h} | {(seg == mseg).mean():.4f} | {np.median(dd):.1e} / {dd.max():.1e} "
                      f"| {np.abs(rgb - mrgb).mean():.2f} |")
            p.disconnect(cid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--only", default="so101,panda")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--reflex", default=".build/release/reflex")
    ap.add_argument("--agreement", action="store_true")
    ap.add_argument("--cpu-time", action="store_true",
                    help="both sides time with the thread's CPU clock (leaves out waiting for a core on a loaded machine)")
    args = ap.parse_args()
    clock = time.thread_time_ns if args.cpu_time else time.perf_counter_ns
    if args.agreement:
        agreement(args)
        return
    scenes = args.only.split(",")
    if not args.compare:
        r = {}
        for s in scenes:
            r.update(measure(s, args.rounds, args.frames, clock))
        if args.json:
            print(json.dumps(r))
        else:
            for k, v in r.items():
                print(f"pybullet {k}: {statistics.median(v) / 1000:.2f} ms median")
        return
    mine, peer = {}, {}
    for _ in range(args.repeats):
        text = subprocess.run([args.reflex, "bench", "render", "--only", args.only, "--panda", PANDA, "--rounds",
                               str(args.rounds), "--frames", str(args.frames), "--json"] + (["--cpu-time"] if args.cpu_time else []),
                              check=True, capture_output=True, text=True).stdout
        for k, v in json.loads(text).items():
            mine.setdefault(k, []).extend(v["roundMicros"])
        for s in scenes:
            for k, v in measure(s, args.rounds, args.frames, clock).items():
                peer.setdefault(k, []).extend(v)
    what = "thread CPU time" if args.cpu_time else "wall time"
    print(f"| frame (RGB + depth + segmentation), 1 thread, {what} | Reflex median (p10–p90) | pybullet {p.getAPIVersion()} "
          f"TinyRenderer median (p10–p90) | pybullet / Reflex |")
    print("|---|---|---|---|")
    for k in sorted(mine):
        a, b = mine[k], peer[k]
        m, q = statistics.median(a), statistics.median(b)
        print(f"| {k} | {m / 1000:.3f} ms ({quantile(a, .1) / 1000:.3f}–{quantile(a, .9) / 1000:.3f}) "
              f"| {q / 1000:.2f} ms ({quantile(b, .1) / 1000:.2f}–{quantile(b, .9) / 1000:.2f}) | **{q / m:.1f}×** |")


if __name__ == "__main__":
    main()
