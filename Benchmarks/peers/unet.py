"""PyTorch side of `reflex bench unet`: LeRobot's own DiffusionConditionalUnet1d (lerobot.policies.diffusion) on the
same shapes — default down_dims (512, 1024, 2048), horizon 16, state inputs (state + environment state), random
weights — one denoising step (one U-Net call) at K = 1 and K candidates for one observation, timed per call;
and the same module instance exported to ONNX, run by ONNX Runtime (Benchmarks/peers/ort_peer.py: Python API, one
intra-op thread per --threads, sequential execution, all graph optimizations), with ONNX Runtime's own per-run time
from its profiler (no Python) and the cost of its Python call alone beside it.
Prints JSON like `reflex bench unet --json` (milliseconds and microseconds as there).

Usage: $(Benchmarks/peers/setup.sh) Benchmarks/peers/unet.py [--k 8] [--threads 1] [--rounds 15] [--no-onnx]
       ... Benchmarks/peers/unet.py --compare [--repeats 3]   (alternates `reflex bench unet --json`, PyTorch and
                                                              ONNX Runtime and prints the BENCHMARKS.md table)
"""
import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import time

import torch

import ort_peer
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionConditionalUnet1d


ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def build(a):
    torch.manual_seed(0)
    cfg = DiffusionConfig(
        input_features={"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(a.state,)),
                        "observation.environment_state": PolicyFeature(type=FeatureType.ENV, shape=(a.env,))},
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(a.action,))},
        down_dims=tuple(int(d) for d in a.down_dims.split(",")), horizon=a.horizon, n_obs_steps=a.n_obs,
        device="cpu")
    gdim = (a.state + a.env) * a.n_obs
    return DiffusionConditionalUnet1d(cfg, global_cond_dim=gdim).eval(), gdim


def time_steps(unet, gdim, a):
    """Per-call microseconds of one U-Net call at K = 1 and K = a.k, `a.rounds` calls each."""
    out = {}
    with torch.inference_mode():
        for k in sorted({1, a.k}):
            x = torch.randn(k, a.horizon, a.action)
            cond = torch.randn(1, gdim).expand(k, -1)  # K candidates for one observation
            for _ in range(2):
                unet(x, torch.full((k,), 10), global_cond=cond)
            rounds = []
            for i in range(a.rounds):
                t0 = time.perf_counter_ns()
                unet(x, torch.full((k,), i % 100), global_cond=cond)
                rounds.append((time.perf_counter_ns() - t0) / 1000)
            out[k] = rounds
    return out


class OnnxUnet:
    """The U-Net instance PyTorch times, exported once to ONNX (batch axis dynamic) and loaded by ONNX Runtime."""

    def __init__(self, unet, gdim, a):
        self.a, self.gdim = a, gdim
        x, t, c = torch.randn(2, a.horizon, a.action), torch.full((2,), 10), torch.randn(2, gdim)
        self.model = ort_peer.export(unet, (x, t, c), ["x", "timestep", "global_cond"],
                                     dynamic_batch=["x", "timestep", "global_cond"])
        self.sess = ort_peer.session(self.model, a.threads)

    def feed(self, k, step=10):
        return {"x": torch.randn(k, self.a.horizon, self.a.action).numpy(),
                "timestep": torch.full((k,), step).numpy(),
                "global_cond": torch.randn(1, self.gdim).expand(k, -1).contiguous().numpy()}

    def time_steps(self):
        """Per-call microseconds through the Python API, as `time_steps` does for PyTorch."""
        out = {}
        for k in sorted({1, self.a.k}):
            feed = self.feed(k)
            out[k] = ort_peer.timed(lambda: self.sess.run(None, feed), self.a.rounds, 1, 2)
        return out

    def own_and_floor(self):
        """Per K: ONNX Runtime's own run time (profiler, µs) over 3 runs, and its Python call alone (µs)."""
        out = {}
        for k in sorted({1, self.a.k}):
            feed = self.feed(k)
            out[k] = (ort_peer.own_run_micros(self.model, feed, 3, 1, self.a.threads),
                      ort_peer.call_floor(feed, 5, 200, 50))
        return out


def load_average():
    return " / ".join(open("/proc/loadavg").read().split()[:3])


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def compare(a):
    """Alternates `reflex bench unet --json` and LeRobot's U-Net, `a.repeats` times, and prints the table."""
    reflex = ROOT / ".build" / "release" / "reflex"
    unet, gdim = build(a)
    onnx = OnnxUnet(unet, gdim, a)
    ours, peer, ort, floors, bandwidths, loads = {}, {}, {}, [], [], [load_average()]
    for _ in range(a.repeats):
        out = subprocess.run([str(reflex), "bench", "unet", "--json", "--k", str(a.k), "--threads", str(a.threads),
                              "--rounds", str(a.rounds), "--down-dims", a.down_dims, "--horizon", str(a.horizon),
                              "--action", str(a.action), "--observation", str(a.state + a.env), "--n-obs",
                              str(a.n_obs)], check=True, capture_output=True, text=True).stdout
        r = json.loads(out[out.index("{"):])
        floors.append(r["floorMs"])
        bandwidths.append(r["readBandwidthGBs"])
        for key, samples in r["steps"].items():
            ours.setdefault(int(key[1:]), []).extend(samples["roundMicros"])
        for k, rounds in time_steps(unet, gdim, a).items():
            peer.setdefault(k, []).extend(rounds)
        for k, rounds in onnx.time_steps().items():
            ort.setdefault(k, []).extend(rounds)
        loads.append(load_average())
    extra = onnx.own_and_floor()
    loads.append(load_average())
    ms = lambda xs: f"{statistics.median(xs) / 1000:,.1f} ms ({quantile(xs, .1) / 1000:,.1f}–{quantile(xs, .9) / 1000:,.1f})"
    floor = statistics.median(floors)
    lines = ["| one denoising step | Reflex F32 median (p10–p90) | LeRobot U-Net (PyTorch) median (p10–p90) | "
             "PyTorch / Reflex | ONNX Runtime (Python API) median (p10–p90) | ONNX Runtime / Reflex | "
             "ONNX Runtime's own run (profiler, no Python) | Reflex / floor |", "|---|---|---|---|---|---|---|---|"]
    for k in sorted(ours):
        mo, mp, mx = statistics.median(ours[k]), statistics.median(peer[k]), statistics.median(ort[k])
        own = statistics.median(extra[k][0])
        lines.append(f"| K = {k}, {a.threads} thread{'s' if a.threads > 1 else ''} | {ms(ours[k])} | {ms(peer[k])} | "
                     f"**{mp / mo:.2f}×** | {ms(ort[k])} | **{mx / mo:.2f}×** | {own / 1000:,.1f} ms | "
                     f"{mo / 1000 / floor:.2f}× |")
    ks = sorted(ours)
    if len(ks) > 1:
        lines.append("")
        lines.append(f"K = {ks[-1]} costs {statistics.median(ours[ks[-1]]) / statistics.median(ours[ks[0]]):.2f}× "
                     f"K = 1 in Reflex and {statistics.median(peer[ks[-1]]) / statistics.median(peer[ks[0]]):.2f}× "
                     f"in PyTorch and {statistics.median(ort[ks[-1]]) / statistics.median(ort[ks[0]]):.2f}× in ONNX "
                     "Runtime.")
    lines.append("")
    lines.append("ONNX Runtime's Python call alone (Identity graph on the same inputs): " + ", ".join(
        f"K = {k} {statistics.median(extra[k][1]):.1f} µs" for k in sorted(extra)) + ".")
    lines.append("")
    lines.append(f"Floor: {sum(p.numel() for p in unet.parameters()) * 4 / 1e6:,.0f} MB of F32 weights / "
                 f"{statistics.median(bandwidths):.1f} GB/s read bandwidth measured in the same run = {floor:.1f} ms.")
    lines.append(f"Measured {datetime.date.today().isoformat()} on {cpu_name()} ({os.cpu_count()} cores, shared; load average "
                 f"{loads[0]} before, {' then '.join(loads[1:-1])} after each repeat, {loads[-1]} at the end), lerobot "
                 f"{__import__('lerobot').__version__}, torch {torch.__version__}, onnxruntime "
                 f"{__import__('onnxruntime').__version__}; reproduce with "
                 f"`{pathlib.Path(__file__).relative_to(ROOT)} --compare --k {a.k} --threads {a.threads} "
                 f"--rounds {a.rounds} --repeats {a.repeats}`.")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--down-dims", default="512,1024,2048")
    ap.add_argument("--horizon", type=int, default=16)
    ap.add_argument("--action", type=int, default=2)
    ap.add_argument("--state", type=int, default=2)
    ap.add_argument("--env", type=int, default=16)
    ap.add_argument("--n-obs", type=int, default=2)
    ap.add_argument("--compare", action="store_true", help="alternate with `reflex bench unet` and print the table")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-onnx", action="store_true", help="PyTorch only (without --compare)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.compare:
        compare(a)
        return
    unet, gdim = build(a)
    params = sum(p.numel() for p in unet.parameters())
    steps = {}
    for k, rounds in time_steps(unet, gdim, a).items():
        steps[f"k{k}"] = {"median_us": statistics.median(rounds), "p10_us": quantile(rounds, .1),
                          "p90_us": quantile(rounds, .9), "roundMicros": rounds}
    result = {"peer": "lerobot " + __import__("lerobot").__version__ + ", torch " + torch.__version__,
              "parameters": params, "threads": a.threads, "steps": steps}
    if not a.no_onnx:
        onnx = OnnxUnet(unet, gdim, a)
        result["onnxruntime"] = __import__("onnxruntime").__version__
        result["onnx_steps"] = {f"k{k}": {"median_us": statistics.median(r), "roundMicros": r}
                                for k, r in onnx.time_steps().items()}
        result["onnx_own_run_us"] = {f"k{k}": own for k, (own, _) in onnx.own_and_floor().items()}
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
