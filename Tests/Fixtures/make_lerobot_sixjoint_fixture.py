"""A small LeRobot DiffusionPolicy for the daemon tests' fake six-joint arm, saved with lerobot's own
`save_pretrained` (config.json, model.safetensors, processor files): observation.state 6 (joint positions) +
observation.environment_state 6 (the velocities the fake arm's observation carries next), 6 actions, n_obs_steps 2,
horizon 16, DDIM 4 steps, down_dims (8, 8, 16) so it stays tens of KB. Random weights: the tests check that
`reflex serve` loads and serves a LeRobot checkpoint; numerical parity with LeRobot is LeRobotTests' job.

Run from the repository root: /work/venv-lerobot/bin/python Tests/Fixtures/make_lerobot_sixjoint_fixture.py
(writes Tests/ReflexPolicyTests/Fixtures/lerobot_sixjoint)
"""
import pathlib
import shutil

import torch

from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors

out = pathlib.Path(__file__).resolve().parent.parent / "ReflexPolicyTests" / "Fixtures" / "lerobot_sixjoint"
torch.manual_seed(0)
cfg = DiffusionConfig(
    input_features={"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(6,)),
                    "observation.environment_state": PolicyFeature(type=FeatureType.ENV, shape=(6,))},
    output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(6,))},
    normalization_mapping={"STATE": NormalizationMode.MIN_MAX, "ENV": NormalizationMode.MEAN_STD,
                           "ACTION": NormalizationMode.MIN_MAX},
    n_obs_steps=2, horizon=16, n_action_steps=8, down_dims=(8, 8, 16), kernel_size=5, n_groups=4,
    diffusion_step_embed_dim=16, noise_scheduler_type="DDIM", num_inference_steps=4, device="cpu")
policy = DiffusionPolicy(cfg).eval()
stats = {"observation.state": {"min": -torch.ones(6) * 3.1, "max": torch.ones(6) * 3.1},
         "observation.environment_state": {"mean": torch.zeros(6), "std": torch.ones(6) * 2},
         "action": {"min": -torch.ones(6) * 3.1, "max": torch.ones(6) * 3.1}}
pre, post = make_diffusion_pre_post_processors(cfg, dataset_stats=stats)
shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True)
policy.save_pretrained(out)
pre.save_pretrained(out)
post.save_pretrained(out)
print(out)
