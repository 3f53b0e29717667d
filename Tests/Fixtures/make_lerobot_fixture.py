"""Builds small LeRobot DiffusionPolicies with lerobot's own code, saves them as `save_pretrained` does (config.json,
model.safetensors, policy_preprocessor/postprocessor JSON and normalizer state), and records what Reflex must
reproduce: U-Net outputs for given (x, t, global condition), and `select_action` over an episode with a fixed
initial noise (DDIM, so the whole chain is deterministic), unnormalized by the postprocessor.

Three directories under Tests/ReflexPolicyTests/Fixtures/:
  lerobot_film     FiLM scale + bias, MIN_MAX state/action, MEAN_STD environment state, 0.4 processor layout
  lerobot_nofilm   use_film_scale_modulation = False, kernel 3, prediction_type "sample"
  lerobot_legacy   the lerobot_film policy in the older layout: normalization buffers inside model.safetensors,
                   no processor files (expected actions use the old "+ 1e-8 on every range" MIN_MAX)
Each holds expected.safetensors with the recorded tensors.

down_dims are (8, 8, 16) (kernel 5; kernel 3 without FiLM scale) rather than LeRobot's (512, 1024, 2048) so each directory stays tens of KB; every layer
type and both FiLM variants are exercised. Pass --down-dims 32,64,128 --out /tmp/x for LeRobot-sized widths and
check them with `reflex predict --unet-only` (not committed: megabytes). (down_dims[0] must be a multiple of 8: LeRobot's final conv block keeps
GroupNorm's default 8 groups whatever n_groups says.)

Run from the repository root: ~/.cache/reflex/peers-venv/bin/python Tests/Fixtures/make_lerobot_fixture.py
"""
import argparse
import json
import pathlib
import shutil

import torch
from safetensors.torch import load_file, save_file

from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors

root = pathlib.Path(__file__).resolve().parent.parent / "ReflexPolicyTests" / "Fixtures"  # --out replaces it
STATE, ENV, ACTION = 3, 4, 2


def build(name, down_dims, film, kernel, prediction, seed):
    torch.manual_seed(seed)
    cfg = DiffusionConfig(
        input_features={
            "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(STATE,)),
            "observation.environment_state": PolicyFeature(type=FeatureType.ENV, shape=(ENV,)),
        },
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(ACTION,))},
        normalization_mapping={"STATE": NormalizationMode.MIN_MAX, "ENV": NormalizationMode.MEAN_STD,
                               "ACTION": NormalizationMode.MIN_MAX},
        n_obs_steps=2, horizon=16, n_action_steps=8,
        down_dims=down_dims, kernel_size=kernel, n_groups=4, diffusion_step_embed_dim=16,
        use_film_scale_modulation=film, noise_scheduler_type="DDIM", num_inference_steps=10,
        prediction_type=prediction, device="cpu",
    )
    policy = DiffusionPolicy(cfg).eval()
    # Move GroupNorm and biases off their identity initialization so every parameter matters.
    with torch.no_grad():
        for pname, p in policy.named_parameters():
            if ".block.1." in pname:
                p.add_(0.2 * torch.randn_like(p))
    stats = {
        "observation.state": {"min": torch.tensor([-1.0, 0.0, 2.0]), "max": torch.tensor([1.0, 3.0, 2.5])},
        "observation.environment_state": {"mean": torch.tensor([0.5, -0.2, 0.0, 1.0]),
                                          "std": torch.tensor([2.0, 0.5, 1.0, 0.1])},
        "action": {"min": torch.tensor([-0.5, 10.0]), "max": torch.tensor([0.5, 20.0])},
    }
    pre, post = make_diffusion_pre_post_processors(cfg, dataset_stats=stats)
    d = root / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    policy.save_pretrained(d)
    pre.save_pretrained(d)
    post.save_pretrained(d)
    return policy, pre, post, stats, d


def record(policy, pre, post, d, legacy_stats=None):
    g = torch.Generator().manual_seed(7)
    out = {}
    unet = policy.diffusion.unet
    gdim = (STATE + ENV) * policy.config.n_obs_steps
    with torch.no_grad():
        for i, t in enumerate([0, 37, 99]):
            x = torch.randn(3, policy.config.horizon, ACTION, generator=g)
            cond = torch.randn(3, gdim, generator=g)
            y = unet(x, torch.full((3,), t, dtype=torch.long), global_cond=cond)
            out[f"unet.{i}.x"], out[f"unet.{i}.cond"], out[f"unet.{i}.out"] = x, cond, y
            out[f"unet.{i}.t"] = torch.tensor([float(t)])
    # An episode through select_action: raw observations in, raw actions out; the same initial noise for every
    # chunk (select_action only uses it when the action queue is empty).
    steps = 12
    states = torch.randn(steps, STATE, generator=g) + torch.tensor([0.0, 1.5, 2.2])
    envs = torch.randn(steps, ENV, generator=g)
    noise = torch.randn(1, policy.config.horizon, ACTION, generator=g)
    policy.reset()
    actions = []
    with torch.no_grad():
        for k in range(steps):
            obs = {"observation.state": states[k], "observation.environment_state": envs[k]}
            if legacy_stats is None:
                batch = pre(obs)
                a = post(policy.select_action(batch, noise=noise.clone()))
            else:
                batch = {key: legacy_normalize(v, legacy_stats[key], key)[None] for key, v in obs.items()}
                a = legacy_unnormalize(policy.select_action(batch, noise=noise.clone()), legacy_stats["action"])
            actions.append(a.reshape(ACTION))
    out["episode.state"], out["episode.environment_state"] = states, envs
    out["episode.noise"] = noise.reshape(policy.config.horizon, ACTION)
    out["episode.action"] = torch.stack(actions)
    save_file({k: v.contiguous().float() for k, v in out.items()}, str(d / "expected.safetensors"))


def legacy_normalize(x, s, key):
    # lerobot <= 0.3 normalize.py: MIN_MAX adds 1e-8 to every range, MEAN_STD adds it to std.
    if "min" in s:
        return (x - s["min"]) / (s["max"] - s["min"] + 1e-8) * 2 - 1
    return (x - s["mean"]) / (s["std"] + 1e-8)


def legacy_unnormalize(y, s):
    return (y + 1) / 2 * (s["max"] - s["min"]) + s["min"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--down-dims", default="8,8,16")
    ap.add_argument("--out", help="write the directories here instead of the test fixtures")
    args = ap.parse_args()
    global root
    if args.out:
        root = pathlib.Path(args.out)
    dims = tuple(int(v) for v in args.down_dims.split(","))
    policy, pre, post, stats, d = build("lerobot_film", dims, True, 5, "epsilon", 0)
    record(policy, pre, post, d)
    policy, pre, post, _, d = build("lerobot_nofilm", dims, False, 3, "sample", 1)
    record(policy, pre, post, d)

    # The older layout: same weights as lerobot_film, normalization buffers in model.safetensors, no processors.
    policy, pre, post, stats, d = build("lerobot_legacy", dims, True, 5, "epsilon", 0)
    for f in d.glob("policy_*"):
        f.unlink()
    weights = load_file(str(d / "model.safetensors"))
    for module, keys in [("normalize_inputs", ["observation.state", "observation.environment_state"]),
                         ("normalize_targets", ["action"]), ("unnormalize_outputs", ["action"])]:
        for key in keys:
            for stat, v in stats[key].items():
                weights[f"{module}.buffer_{key.replace('.', '_')}.{stat}"] = v.float().clone()
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    record(policy, pre, post, d, legacy_stats=stats)
    for name in ["lerobot_film", "lerobot_nofilm", "lerobot_legacy"]:
        size = sum(f.stat().st_size for f in (root / name).iterdir())
        print(f"{name}: {size // 1024} KB, {sorted(f.name for f in (root / name).iterdir())}")


if __name__ == "__main__":
    main()
