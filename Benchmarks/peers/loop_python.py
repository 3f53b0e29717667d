"""Python side of `reflex bench loop`: a LeRobot-style control loop with the same diffusion policy in PyTorch.

The loop is `lerobot_record`'s: each iteration reads the arm (a dict per step), `select_action` (infers a chunk
inline when the action queue is empty, LeRobot's DiffusionPolicy logic: queue actions[n_obs-1 : n_obs-1+n_action_steps]),
sends the action, then sleeps the rest of the period with LeRobot's own `precise_sleep` (time.sleep on Linux).
The network is Reflex's MLP denoiser ([x_t, sinusoidal emb(t), condition] → Linear → LayerNorm → Mish … → Linear,
the module of Benchmarks/peers/denoiser.py), sampled with diffusers' DDIM/DDPM schedulers as LeRobot does.
The arm is a first-order lag like Reflex's FakeRobot. Prints JSON in the shape of `reflex bench loop --json`.

  python Benchmarks/peers/loop_python.py --rate 100 --seconds 60 --sampler ddim:10 [--priority 80]
"""
import argparse
import collections
import json
import math
import os
import pathlib
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from denoiser import Denoiser  # noqa: E402

try:
    from lerobot.utils.robot_utils import precise_sleep
except ImportError:  # lerobot not installed: what precise_sleep does on Linux
    def precise_sleep(seconds):
        if seconds > 0:
            time.sleep(seconds)

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
LIMITS = [(-1.9, 1.9), (-1.7, 1.7), (-1.6, 1.6), (-1.6, 1.6), (-2.7, 2.7), (-0.2, 1.7)]


class FakeArm:
    """Each joint follows its target as a first-order lag (tau 50 ms, 3 rad/s cap), like Reflex's FakeRobot."""

    def __init__(self):
        self.q = [0.0, 0.0, 0.0, 0.0, 0.0, 0.5]
        self.qd = [0.0] * 6
        self.target = list(self.q)
        self.t = time.perf_counter()

    def _advance(self):
        now = time.perf_counter()
        dt = now - self.t
        if dt <= 0:
            return
        self.t = now
        alpha = 1 - math.exp(-dt / 0.05)
        for i in range(6):
            step = max(-3 * dt, min(3 * dt, (self.target[i] - self.q[i]) * alpha))
            self.q[i] += step
            self.qd[i] = step / dt

    def get_observation(self):
        self._advance()
        obs = {f"{n}.pos": self.q[i] for i, n in enumerate(JOINTS)}
        obs.update({f"{n}.vel": self.qd[i] for i, n in enumerate(JOINTS)})
        return obs

    def send_action(self, action):
        self._advance()
        sent = {}
        for i, n in enumerate(JOINTS):
            lo, hi = LIMITS[i]
            v = min(max(action[f"{n}.pos"], lo), hi)
            self.target[i] = v
            sent[f"{n}.pos"] = v
        return sent


class MLPDiffusionPolicy:
    """LeRobot's DiffusionPolicy select_action over the MLP denoiser."""

    def __init__(self, hidden, obs_size, action_size=6, horizon=16, n_obs=2, n_action_steps=8, sampler="ddim:10"):
        from diffusers import DDIMScheduler, DDPMScheduler
        self.horizon, self.action_size, self.n_obs, self.n_action_steps = horizon, action_size, n_obs, n_action_steps
        emb = 64
        n = horizon * action_size
        torch.manual_seed(1)
        self.model = Denoiser(n + emb + obs_size * n_obs, hidden, n, emb).eval()
        kind, _, steps = sampler.partition(":")
        common = dict(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                      prediction_type="epsilon")
        self.scheduler = DDIMScheduler(**common) if kind == "ddim" else DDPMScheduler(**common)
        self.steps = int(steps) if steps else 100
        self.history = collections.deque(maxlen=n_obs)
        self.queue = collections.deque()
        self.latencies = []

    @torch.inference_mode()
    def select_action(self, observation):
        if not self.history:
            for _ in range(self.n_obs):
                self.history.append(observation)
        else:
            self.history.append(observation)
        if not self.queue:
            t0 = time.perf_counter_ns()
            cond = torch.stack(list(self.history)).flatten()[None]
            x = torch.randn(1, self.horizon, self.action_size)
            self.scheduler.set_timesteps(self.steps)
            for t in self.scheduler.timesteps:
                eps = self.model(x, torch.full((1,), int(t)), cond).view(1, self.horizon, self.action_size)
                x = self.scheduler.step(eps, t, x).prev_sample
            start = self.n_obs - 1
            self.queue.extend(x[0, start:start + self.n_action_steps])
            self.latencies.append(time.perf_counter_ns() - t0)
        return self.queue.popleft()


def summary(values_ns):
    if not values_ns:
        return {"count": 0, "min": 0, "mean": 0, "p50": 0, "p90": 0, "p99": 0, "p999": 0, "max": 0}
    xs = sorted(values_ns)

    def q(p):  # nearest rank, as HdrHistogram's valueAtPercentile
        return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))] / 1000

    return {"count": len(xs), "min": xs[0] / 1000, "mean": sum(xs) / len(xs) / 1000, "p50": q(50), "p90": q(90),
            "p99": q(99), "p999": q(99.9), "max": xs[-1] / 1000}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--sampler", default="ddim:10")
    ap.add_argument("--hidden", default="512,512,512")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--priority", type=int, default=0, help="ask for SCHED_FIFO at this priority (LeRobot does not)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rt = {"fifoPriority": a.priority or None, "fifoGranted": False, "lockMemoryRequested": False, "memoryLocked": False}
    if a.priority:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(a.priority))
            rt["fifoGranted"] = True
        except OSError as e:
            rt["fifoError"] = str(e)
    arm = FakeArm()
    policy = MLPDiffusionPolicy([int(h) for h in a.hidden.split(",")], 12 + a.features, sampler=a.sampler)
    g = torch.Generator().manual_seed(7)
    features = torch.randn(a.features, generator=g)
    period = 1 / a.rate
    # Warm-up outside the timed run, as Reflex's loop starts with its buffers made.
    for _ in range(3):
        policy.queue.clear()
        policy.select_action(torch.zeros(12 + a.features))
    policy.queue.clear()
    policy.history.clear()
    policy.latencies.clear()

    starts, durations = [], []
    misses = 0
    total = int(a.seconds * a.rate)
    for _ in range(total):
        start_loop_t = time.perf_counter()
        starts.append(time.perf_counter_ns())
        obs = arm.get_observation()
        state = torch.tensor([obs[f"{n}.pos"] for n in JOINTS] + [obs[f"{n}.vel"] for n in JOINTS], dtype=torch.float32)
        action = policy.select_action(torch.cat([state, features]))
        arm.send_action({f"{n}.pos": float(action[i]) for i, n in enumerate(JOINTS)})
        dt_s = time.perf_counter() - start_loop_t
        durations.append(int(dt_s * 1e9))
        if dt_s > period:
            misses += 1
        precise_sleep(max(period - dt_s, 0.0))

    period_ns = period * 1e9
    jitter = [abs((b - a_) - period_ns) for a_, b in zip(starts, starts[1:])]
    timings = {"period_jitter": summary(jitter), "tick_duration": summary(durations),
               "inference_latency": summary(policy.latencies)}
    out = {"meta": {"rate": str(a.rate), "seconds": str(a.seconds), "sampler": a.sampler, "inline": "true",
                    "torch": torch.__version__, "sleep": precise_sleep.__module__ + ".precise_sleep"},
           "realtime": rt,
           "snapshot": {"counters": {"ticks": total, "deadlineMisses": misses, "chunksReceived": len(policy.latencies)},
                        "timings": timings,
                        # LeRobot's loop keeps no absolute schedule: after N ticks it is this far behind N periods.
                        "drift_ms": (starts[-1] - starts[0] - (total - 1) * period_ns) / 1e6}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
