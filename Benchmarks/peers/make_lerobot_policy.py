"""Writes a LeRobot diffusion checkpoint directory with LeRobot 0.4's own code (`save_pretrained` of the policy and
of its pre/post-processors): the policy both remote-inference servers serve in Benchmarks/serve_predict_compare.py
(`reflex serve` and LeRobot's async-inference policy server). A state + one camera policy, since LeRobot's policy
server passes only `observation.state` and camera frames to the policy (no environment state) and LeRobot's
DiffusionConfig refuses a policy with neither camera nor environment state: SO-101 state (6 joint positions), one
camera `observation.images.front` 3×96×96 (center crop 84×84, ResNet-18 with GroupNorm, random init, 32 keypoints:
LeRobot's defaults), 6 actions, n_obs_steps 2, horizon 16, n_action_steps 8; U-Net down_dims --down-dims (default
64,128,256), DDIM with --steps denoising steps. Random weights and made-up statistics (MIN_MAX state and action,
ImageNet-style MEAN_STD image): this measures serving, not a task.

  $(Benchmarks/peers/setup.sh) Benchmarks/peers/make_lerobot_policy.py OUT_DIR [--down-dims 64,128,256] [--steps 10]
"""
import argparse
import pathlib
import shutil

import torch

from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors

STATE, ACTION, IMAGE = 6, 6, (3, 96, 96)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--down-dims", default="64,128,256")
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    torch.manual_seed(0)
    cfg = DiffusionConfig(
        input_features={"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(STATE,)),
                        "observation.images.front": PolicyFeature(type=FeatureType.VISUAL, shape=IMAGE)},
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(ACTION,))},
        normalization_mapping={"VISUAL": NormalizationMode.MEAN_STD, "STATE": NormalizationMode.MIN_MAX,
                               "ACTION": NormalizationMode.MIN_MAX},
        n_obs_steps=2, horizon=16, n_action_steps=8,
        down_dims=tuple(int(d) for d in a.down_dims.split(",")),
        noise_scheduler_type="DDIM", num_inference_steps=a.steps, device="cpu")
    policy = DiffusionPolicy(cfg).eval()
    stats = {"observation.state": {"min": -torch.ones(STATE) * 2, "max": torch.ones(STATE) * 2},
             "observation.images.front": {"mean": torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1),
                                          "std": torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)},
             "action": {"min": -torch.ones(ACTION) * 3.1, "max": torch.ones(ACTION) * 3.1}}
    pre, post = make_diffusion_pre_post_processors(cfg, dataset_stats=stats)
    out = pathlib.Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    policy.save_pretrained(out)
    pre.save_pretrained(out)
    post.save_pretrained(out)
    print(out)


if __name__ == "__main__":
    main()
