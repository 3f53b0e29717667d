"""Builds small LeRobot image DiffusionPolicies with lerobot's own code, saves them as `save_pretrained` does, and
records what Reflex must reproduce: each camera encoder's features, U-Net outputs, and `select_action` over an
episode with a fixed initial noise (DDIM, so the whole chain is deterministic), unnormalized by the postprocessor.

Two directories under Tests/ReflexPolicyTests/Fixtures/:
  lerobot_image_1cam  observation.image 3×64×64, crop 56×56, resnet18 with GroupNorm, 32 keypoints, MEAN_STD images
  lerobot_image_2cam  observation.images.top and .wrist 3×72×80, crop 64×72 (a 2×3 ResNet18 feature map),
                      a separate resnet18 per camera with BatchNorm (folded at load), 8 keypoints, IDENTITY images,
                      an environment state as well
  lerobot_image_shared two cameras 3×64×64 through one shared encoder, no crop, GroupNorm, 16 keypoints
A ResNet18 is 45 MB, so the encoders' tensors are not committed: they (and every image the recording feeds in) come
from deterministic_weights.py, which Tests/TestSupport/DeterministicWeights.swift mirrors bit for bit. The test
rebuilds model.safetensors from the committed one plus encoder_tensors.json (names and shapes). The U-Net is
random and small (down_dims 8, 8, 16) and committed as usual.

Run from the repository root: /work/venv-lerobot/bin/python Tests/Fixtures/make_lerobot_image_fixture.py
"""
import copy
import json
import pathlib
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import deterministic_weights as dw  # noqa: E402
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature  # noqa: E402
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig  # noqa: E402
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy  # noqa: E402
from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors  # noqa: E402

root = pathlib.Path(__file__).resolve().parent.parent / "ReflexPolicyTests" / "Fixtures"
STATE, ENV, ACTION = 3, 4, 2
STEPS = 5


def build(name, cameras, image_shape, crop, group_norm, separate, keypoints, image_mode, env, seed):
    torch.manual_seed(seed)
    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(STATE,))}
    for cam in cameras:
        inputs[cam] = PolicyFeature(type=FeatureType.VISUAL, shape=image_shape)
    if env:
        inputs["observation.environment_state"] = PolicyFeature(type=FeatureType.ENV, shape=(ENV,))
    cfg = DiffusionConfig(
        input_features=inputs,
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(ACTION,))},
        normalization_mapping={"VISUAL": image_mode, "STATE": NormalizationMode.MIN_MAX,
                               "ENV": NormalizationMode.MEAN_STD, "ACTION": NormalizationMode.MIN_MAX},
        n_obs_steps=2, horizon=16, n_action_steps=3,
        vision_backbone="resnet18", pretrained_backbone_weights=None, use_group_norm=group_norm,
        crop_shape=crop, crop_is_random=True, spatial_softmax_num_keypoints=keypoints,
        use_separate_rgb_encoder_per_camera=separate,
        down_dims=(8, 8, 16), kernel_size=5, n_groups=4, diffusion_step_embed_dim=16,
        noise_scheduler_type="DDIM", num_inference_steps=10, device="cpu",
    )
    policy = DiffusionPolicy(cfg).eval()
    with torch.no_grad():
        for pname, p in policy.named_parameters():
            if ".block.1." in pname:
                p.add_(0.2 * torch.randn_like(p))
    dw.fill(policy.diffusion.rgb_encoder, prefix="diffusion.rgb_encoder.")
    stats = {
        "observation.state": {"min": torch.tensor([-1.0, 0.0, 2.0]), "max": torch.tensor([1.0, 3.0, 2.5])},
        "observation.environment_state": {"mean": torch.tensor([0.5, -0.2, 0.0, 1.0]),
                                          "std": torch.tensor([2.0, 0.5, 1.0, 0.1])},
        "action": {"min": torch.tensor([-0.5, 10.0]), "max": torch.tensor([0.5, 20.0])},
    }
    for i, cam in enumerate(cameras):
        stats[cam] = {"mean": torch.tensor([0.45, 0.5, 0.55 + 0.05 * i]).reshape(3, 1, 1),
                      "std": torch.tensor([0.2, 0.25, 0.3]).reshape(3, 1, 1),
                      "min": torch.zeros(3, 1, 1), "max": torch.ones(3, 1, 1)}
    pre, post = make_diffusion_pre_post_processors(cfg, dataset_stats=stats)
    d = root / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    policy.save_pretrained(d)
    pre.save_pretrained(d)
    post.save_pretrained(d)
    return policy, pre, post, d


def image(name, shape):
    return dw.values(name + ".image", shape)


def record(policy, pre, post, d, cameras, env):
    g = torch.Generator().manual_seed(7)
    cfg = policy.config
    c, h, w = cfg.image_features[cameras[0]].shape
    out = {}
    with torch.no_grad():
        # Each encoder on 3 normalized images (the input it sees after the preprocessor).
        encoders = policy.diffusion.rgb_encoder
        encoders = list(encoders) if isinstance(encoders, torch.nn.ModuleList) else [encoders]
        for i, enc in enumerate(encoders):
            x = 2 * image(f"encoder.{i}", (3, c, h, w)) - 1
            out[f"encoder.{i}.y"] = enc(x)
            # The same in float64: how far PyTorch's own float32 is from exact, the yardstick for Reflex's error.
            out[f"encoder.{i}.y64"] = copy.deepcopy(enc).double()(x.double())
        unet = policy.diffusion.unet
        gdim = policy.diffusion.unet.down_modules[0][0].cond_encoder[1].in_features - cfg.diffusion_step_embed_dim
        for i, t in enumerate([0, 37, 99]):
            x = torch.randn(3, cfg.horizon, ACTION, generator=g)
            cond = torch.randn(3, gdim, generator=g)
            out[f"unet.{i}.x"], out[f"unet.{i}.cond"] = x, cond
            out[f"unet.{i}.out"] = unet(x, torch.full((3,), t, dtype=torch.long), global_cond=cond)
            out[f"unet.{i}.t"] = torch.tensor([float(t)])
    states = torch.randn(STEPS, STATE, generator=g) + torch.tensor([0.0, 1.5, 2.2])
    envs = torch.randn(STEPS, ENV, generator=g)
    noise = torch.randn(1, cfg.horizon, ACTION, generator=g)
    policy.reset()
    actions = []
    with torch.no_grad():
        for k in range(STEPS):
            obs = {"observation.state": states[k]}
            for j, cam in enumerate(cameras):
                obs[cam] = image(f"episode.{k}.{j}", (c, h, w))
            if env:
                obs["observation.environment_state"] = envs[k]
            a = post(policy.select_action(pre(obs), noise=noise.clone()))
            actions.append(a.reshape(ACTION))
    out["episode.state"], out["episode.environment_state"] = states, envs
    out["episode.noise"] = noise.reshape(cfg.horizon, ACTION)
    out["episode.action"] = torch.stack(actions)
    # The episode again with the policy in float64 (observations and statistics widened too).
    p64 = copy.deepcopy(policy).double()
    p64.reset()
    actions = []
    torch.set_default_dtype(torch.float64)  # the timestep embedding's arange
    with torch.no_grad():
        for k in range(STEPS):
            obs = {"observation.state": states[k]}
            for j, cam in enumerate(cameras):
                obs[cam] = image(f"episode.{k}.{j}", (c, h, w))
            if env:
                obs["observation.environment_state"] = envs[k]
            batch = {key: v.double() if torch.is_tensor(v) and v.is_floating_point() else v for key, v in pre(obs).items()}
            a = p64.select_action(batch, noise=noise.clone().double())
            actions.append(post(a.float()).reshape(ACTION))
    torch.set_default_dtype(torch.float32)
    out["episode.action64"] = torch.stack(actions)
    save_file({k: v.contiguous().float() for k, v in out.items()}, str(d / "expected.safetensors"))

    # Strip the encoders' tensors (regenerated at test time) but keep the small pos_grid buffers.
    weights = load_file(str(d / "model.safetensors"))
    manifest = {}
    for k in list(weights):
        if k.startswith("diffusion.rgb_encoder.") and not k.endswith("pos_grid"):
            t = weights.pop(k)
            if t.is_floating_point():
                assert torch.equal(t, dw.values(k, tuple(t.shape))), k
                manifest[k] = list(t.shape)
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    (d / "encoder_tensors.json").write_text(json.dumps(manifest, indent=0) + "\n")


def main():
    for name, cams, shape, crop, gn, sep, kp, mode, env, seed in [
        ("lerobot_image_1cam", ["observation.image"], (3, 64, 64), (56, 56), True, False, 32,
         NormalizationMode.MEAN_STD, False, 0),
        ("lerobot_image_2cam", ["observation.images.top", "observation.images.wrist"], (3, 72, 80), (64, 72), False,
         True, 8, NormalizationMode.IDENTITY, True, 1),
        ("lerobot_image_shared", ["observation.images.left", "observation.images.right"], (3, 64, 64), None, True,
         False, 16, NormalizationMode.MEAN_STD, False, 2),
    ]:
        policy, pre, post, d = build(name, cams, shape, crop, gn, sep, kp, mode, env, seed)
        record(policy, pre, post, d, cams, env)
        size = sum(f.stat().st_size for f in d.iterdir())
        print(f"{name}: {size // 1024} KB, {sorted(f.name for f in d.iterdir())}")


if __name__ == "__main__":
    main()
