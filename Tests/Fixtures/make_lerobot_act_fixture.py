"""Builds small LeRobot ACT policies with lerobot's own code, saves them as `save_pretrained` does, and records what
Reflex must reproduce: one action chunk (`predict_action_chunk`, normalized, and through the postprocessor), the
transformer encoder's output, and `select_action` over an episode both with the action queue (n_action_steps) and
with ACT's temporal ensembling (`ACTTemporalEnsembler`, coefficient 0.01, one chunk per step).

Two directories under Tests/ReflexPolicyTests/Fixtures/:
  lerobot_act_state   observation.state (3) + observation.environment_state (4), pre_norm, relu, temporal
                      ensembling in config.json (n_action_steps 1)
  lerobot_act_camera  observation.state (3) + observation.images.top 3×96×128 (resnet18 → a 3×4 map, 12 tokens),
                      post-norm, gelu, n_action_steps 3
  lerobot_act_2cam    observation.state + observation.images.top and .wrist (3×96×128 each, one shared backbone,
                      24 image tokens) + observation.environment_state, pre_norm, relu, n_action_steps 4
Both: dim_model 64, 2 heads, dim_feedforward 128, 2 encoder layers, 1 decoder layer, chunk_size 10, use_vae (its
weights are in the file and never run), MEAN_STD everywhere.
Every tensor of the model comes from deterministic_weights.py (Tests/TestSupport/DeterministicWeights.swift mirrors it
bit for bit), so model.safetensors is committed almost empty and rebuilt at test time from encoder_tensors.json
(names and shapes); the fixtures stay tens of KB.

Run from the repository root: /work/venv-lerobot/bin/python Tests/Fixtures/make_lerobot_act_fixture.py
"""
import json
import pathlib
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import deterministic_weights as dw  # noqa: E402
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature  # noqa: E402
from lerobot.policies.act.configuration_act import ACTConfig  # noqa: E402
from lerobot.policies.act.modeling_act import ACTPolicy, ACTTemporalEnsembler  # noqa: E402
from lerobot.policies.act.processor_act import make_act_pre_post_processors  # noqa: E402

root = pathlib.Path(__file__).resolve().parent.parent / "ReflexPolicyTests" / "Fixtures"
STATE, ENV, ACTION = 3, 4, 2
STEPS = 7
KEPT = "model.action_head.bias"  # one tensor stays in the committed file, so it is a real safetensors file


def build(name, cameras, env, pre_norm, activation, n_action_steps, ensemble):
    torch.manual_seed(0)
    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(STATE,))}
    for cam in cameras:
        inputs[cam] = PolicyFeature(type=FeatureType.VISUAL, shape=(3, 96, 128))
    if env:
        inputs["observation.environment_state"] = PolicyFeature(type=FeatureType.ENV, shape=(ENV,))
    cfg = ACTConfig(
        input_features=inputs,
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(ACTION,))},
        normalization_mapping={"VISUAL": NormalizationMode.MEAN_STD, "STATE": NormalizationMode.MEAN_STD,
                               "ENV": NormalizationMode.MEAN_STD, "ACTION": NormalizationMode.MEAN_STD},
        chunk_size=10, n_action_steps=n_action_steps, temporal_ensemble_coeff=ensemble,
        vision_backbone="resnet18", pretrained_backbone_weights=None,
        pre_norm=pre_norm, dim_model=64, n_heads=2, dim_feedforward=128, feedforward_activation=activation,
        n_encoder_layers=2, n_decoder_layers=1, use_vae=True, latent_dim=8, n_vae_encoder_layers=1, device="cpu",
    )
    policy = ACTPolicy(cfg).eval()
    dw.fill(policy)
    stats = {
        "observation.state": {"mean": torch.tensor([0.1, -0.3, 1.0]), "std": torch.tensor([0.5, 2.0, 0.25])},
        "observation.environment_state": {"mean": torch.tensor([0.5, -0.2, 0.0, 1.0]),
                                          "std": torch.tensor([2.0, 0.5, 1.0, 0.1])},
        "action": {"mean": torch.tensor([0.2, 15.0]), "std": torch.tensor([0.5, 3.0])},
    }
    for cam in cameras:
        stats[cam] = {"mean": torch.tensor([0.45, 0.5, 0.55]).reshape(3, 1, 1),
                      "std": torch.tensor([0.2, 0.25, 0.3]).reshape(3, 1, 1)}
    pre, post = make_act_pre_post_processors(cfg, dataset_stats=stats)
    d = root / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    policy.save_pretrained(d)
    pre.save_pretrained(d)
    post.save_pretrained(d)
    return policy, pre, post, d


def observation(k, cameras, env, states, envs):
    obs = {"observation.state": states[k]}
    for j, cam in enumerate(cameras):
        obs[cam] = dw.values(f"episode.{k}.{j}.image", (3, 96, 128))
    if env:
        obs["observation.environment_state"] = envs[k]
    return obs


def record(policy, pre, post, d, cameras, env):
    g = torch.Generator().manual_seed(7)
    cfg = policy.config
    states = torch.randn(STEPS, STATE, generator=g) * 0.5 + torch.tensor([0.1, -0.3, 1.0])
    envs = torch.randn(STEPS, ENV, generator=g)
    out = {"episode.state": states, "episode.environment_state": envs}
    captured = {}
    policy.model.encoder.register_forward_hook(lambda m, i, o: captured.__setitem__("encoder", o))
    with torch.no_grad():
        # One chunk from the first observation, and the encoder's output tokens (S × dim_model).
        chunk = policy.predict_action_chunk(pre(observation(0, cameras, env, states, envs)))
        out["chunk.normalized"] = chunk[0]
        out["chunk.action"] = post(chunk)[0]
        out["encoder.out"] = captured["encoder"][:, 0, :]
        # select_action with the action queue of n_action_steps (LeRobot's own select_action when the config has
        # no ensembling; the same queue rule otherwise).
        policy.reset()
        queue, actions = [], []
        for k in range(STEPS):
            batch = pre(observation(k, cameras, env, states, envs))
            if cfg.temporal_ensemble_coeff is None:
                a = policy.select_action(batch)
            else:
                if not queue:
                    queue = list(policy.predict_action_chunk(batch)[:, : cfg.n_action_steps].transpose(0, 1))
                a = queue.pop(0)
            actions.append(post(a).reshape(ACTION))
        out["episode.queue"] = torch.stack(actions)
        # select_action with temporal ensembling (coefficient 0.01): a chunk every step.
        ensembler = ACTTemporalEnsembler(0.01, cfg.chunk_size)
        policy.reset()
        actions = []
        for k in range(STEPS):
            batch = pre(observation(k, cameras, env, states, envs))
            if cfg.temporal_ensemble_coeff is not None:
                a = policy.select_action(batch)
            else:
                a = ensembler.update(policy.predict_action_chunk(batch))
            actions.append(post(a).reshape(ACTION))
        out["episode.ensemble"] = torch.stack(actions)
    save_file({k: v.contiguous().float() for k, v in out.items()}, str(d / "expected.safetensors"))

    # Strip the model's tensors (regenerated at test time from their names) but one.
    weights = load_file(str(d / "model.safetensors"))
    manifest = {}
    for k in list(weights):
        if k == KEPT:
            continue
        t = weights.pop(k)
        assert t.is_floating_point() and torch.equal(t, dw.values(k, tuple(t.shape))), k
        manifest[k] = list(t.shape)
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    (d / "encoder_tensors.json").write_text(json.dumps(manifest, indent=0) + "\n")


def main():
    for name, cams, env, pre_norm, act, n_action, ens in [
        ("lerobot_act_state", [], True, True, "relu", 1, 0.01),
        ("lerobot_act_camera", ["observation.images.top"], False, False, "gelu", 3, None),
        ("lerobot_act_2cam", ["observation.images.top", "observation.images.wrist"], True, True, "relu", 4, None),
    ]:
        policy, pre, post, d = build(name, cams, env, pre_norm, act, n_action, ens)
        record(policy, pre, post, d, cams, env)
        size = sum(f.stat().st_size for f in d.iterdir())
        print(f"{name}: {size // 1024} KB, {sorted(f.name for f in d.iterdir())}")


if __name__ == "__main__":
    main()
