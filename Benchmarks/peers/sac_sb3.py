"""Stable-Baselines3 SAC on Pendulum-v1 with rl-zoo3's settings (hyperparams/sac.yml: 20,000 steps, lr 1e-3, the rest
SB3's defaults: 2x256 ReLU, batch 256, buffer 1e6, 100 learning-starts steps, tau 0.005, gamma 0.99, auto entropy).
The peer of `reflex bench sac --preset sb3`.

Prints wall time, process CPU time, steps per second and the final mean return of 10 deterministic episodes.

    ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sac_sb3.py --seed 0 --threads 1 --json
"""
import argparse
import json
import resource
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    env = gym.make("Pendulum-v1")
    model = SAC("MlpPolicy", env, learning_rate=1e-3, seed=a.seed, verbose=0, device="cpu")
    w0, c0 = time.perf_counter(), cpu_seconds()
    model.learn(total_timesteps=a.steps)
    wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
    eval_env = gym.make("Pendulum-v1")
    returns = []
    for e in range(a.eval_episodes):
        obs, _ = eval_env.reset(seed=10_000 + e)
        total, done = 0.0, False
        while not done:
            act, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = eval_env.step(act)
            total += float(r)
            done = term or trunc
        returns.append(total)
    out = {"peer": "stable-baselines3", "version": __import__("stable_baselines3").__version__, "torch": torch.__version__,
           "seed": a.seed, "threads": a.threads, "steps": a.steps, "seconds": wall, "cpu_seconds": cpu,
           "steps_per_second": a.steps / wall, "final_mean_return": float(np.mean(returns)),
           "final_std_return": float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0}
    print(json.dumps(out) if a.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
