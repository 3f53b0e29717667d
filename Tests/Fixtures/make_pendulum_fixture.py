"""Records gymnasium Pendulum-v1 trajectories that ReflexRLTests replays step by step: the initial state from
`reset(seed=...)`, the actions applied (some beyond the ±2 torque limit, to exercise the clip), and after each step
the observation, reward and truncation flag from `gymnasium.make("Pendulum-v1")` (so the TimeLimit wrapper's
200-step cut-off is included).

Run from the repository root: ~/.cache/reflex/peers-venv/bin/python Tests/Fixtures/make_pendulum_fixture.py
"""
import json
import pathlib

import gymnasium as gym
import numpy as np

out = pathlib.Path(__file__).resolve().parent.parent / "ReflexRLTests" / "Fixtures" / "pendulum.json"
rng = np.random.default_rng(7)
episodes = []
for seed in (0, 1):
    env = gym.make("Pendulum-v1")
    env.reset(seed=seed)
    theta, theta_dot = (float(x) for x in env.unwrapped.state)
    actions, obs, rewards, truncated = [], [], [], []
    for t in range(200):
        # Mostly smooth torques with occasional saturation beyond the limit.
        a = np.array([2.6 * np.sin(0.07 * t + seed) + 0.3 * rng.standard_normal()], dtype=np.float32)
        o, r, term, trunc, _ = env.step(a)
        assert not term
        actions.append(float(a[0]))
        obs.append([round(float(x), 7) for x in o])
        rewards.append(round(float(r), 7))
        truncated.append(bool(trunc))
    episodes.append({"seed": seed, "theta": theta, "theta_dot": theta_dot, "actions": actions,
                     "observations": obs, "rewards": rewards, "truncated": truncated})
out.write_text(json.dumps({"gymnasium": gym.__version__, "episodes": episodes}, separators=(",", ":")) + "\n")
print("wrote", out, out.stat().st_size, "bytes")
