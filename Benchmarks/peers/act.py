"""Times LeRobot's own ACT (ACTPolicy.predict_action_chunk: backbone, transformer, head; random weights, eval mode)
on the shapes `reflex bench act` uses: LeRobot's default ACTConfig (resnet18, dim_model 512, 8 heads,
dim_feedforward 3200, 4 encoder / 1 decoder layers, chunk_size 100) with a 6-value state, 6 actions and cameras of
the given size; inputs already normalized (the processors are outside both timings). Same warm-up and rounds.

/work/venv-lerobot/bin/python Benchmarks/peers/act.py --threads 1   # beside: reflex bench act --threads 1
"""
import argparse
import statistics
import time

import torch

from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.act.modeling_act import ACTPolicy

ap = argparse.ArgumentParser()
ap.add_argument("--cameras", type=int, default=1)
ap.add_argument("--height", type=int, default=480)
ap.add_argument("--width", type=int, default=640)
ap.add_argument("--state", type=int, default=6)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=10)
ap.add_argument("--warmup", type=int, default=2)
args = ap.parse_args()
torch.set_num_threads(args.threads)
inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(args.state,))}
for i in range(args.cameras):
    inputs[f"observation.images.cam{i}"] = PolicyFeature(type=FeatureType.VISUAL, shape=(3, args.height, args.width))
if args.cameras == 0:
    inputs["observation.environment_state"] = PolicyFeature(type=FeatureType.ENV, shape=(6,))
cfg = ACTConfig(input_features=inputs,
                output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(6,))},
                pretrained_backbone_weights=None, device="cpu")
policy = ACTPolicy(cfg).eval()
batch = {"observation.state": torch.rand(1, args.state) * 2 - 1}
for i in range(args.cameras):
    batch[f"observation.images.cam{i}"] = torch.rand(1, 3, args.height, args.width) * 2 - 1
if args.cameras == 0:
    batch["observation.environment_state"] = torch.rand(1, 6)
times = []
with torch.inference_mode():
    for _ in range(args.warmup):
        policy.predict_action_chunk(batch)
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        policy.predict_action_chunk(batch)
        times.append(time.perf_counter() - t0)
s = sorted(times)
print(f"lerobot ACT (defaults) {args.cameras} camera(s) {args.height}x{args.width}, torch {torch.__version__}, "
      f"{args.threads} thread(s), {args.warmup} warm-up, {args.rounds} rounds: median {statistics.median(times) * 1e3:.1f} ms "
      f"(p10 {s[len(s) // 10] * 1e3:.1f}, p90 {s[len(s) * 9 // 10] * 1e3:.1f})")
