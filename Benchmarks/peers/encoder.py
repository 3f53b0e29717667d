"""Times LeRobot's own DiffusionRgbEncoder (ResNet trunk + spatial softmax + linear), random weights, eval mode, on
the shapes `reflex bench encoder` uses (defaults: PushT's 96×96 images cropped to 84×84, resnet18 with GroupNorm,
32 keypoints, 2 images per call): same warm-up (3 calls) and rounds (median of 15 single calls), torch threads as given.

/work/venv-lerobot/bin/python Benchmarks/peers/encoder.py --threads 1   # beside: reflex bench encoder --threads 1
"""
import argparse
import statistics
import time

import torch

from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.diffusion.modeling_diffusion import DiffusionRgbEncoder

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=2)
ap.add_argument("--image", type=int, default=96)
ap.add_argument("--crop", type=int, default=84)
ap.add_argument("--backbone", default="resnet18")
ap.add_argument("--batch-norm", action="store_true")
ap.add_argument("--keypoints", type=int, default=32)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=15)
args = ap.parse_args()
torch.set_num_threads(args.threads)
cfg = DiffusionConfig(
    input_features={"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(2,)),
                    "observation.image": PolicyFeature(type=FeatureType.VISUAL, shape=(3, args.image, args.image))},
    output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(2,))},
    vision_backbone=args.backbone, pretrained_backbone_weights=None, use_group_norm=not args.batch_norm,
    crop_shape=(args.crop, args.crop), spatial_softmax_num_keypoints=args.keypoints, device="cpu")
enc = DiffusionRgbEncoder(cfg).eval()
x = torch.rand(args.batch, 3, args.image, args.image)
times = []
with torch.inference_mode():
    for _ in range(3):
        enc(x)
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        enc(x)
        times.append(time.perf_counter() - t0)
ms = statistics.median(times) * 1e3
print(f"lerobot DiffusionRgbEncoder {args.backbone} {'BatchNorm' if args.batch_norm else 'GroupNorm'} "
      f"{args.image}->{args.crop} batch {args.batch}, torch {torch.__version__}, {args.threads} thread(s): "
      f"median {ms:.2f} ms (p10 {sorted(times)[len(times) // 10] * 1e3:.2f}, p90 {sorted(times)[len(times) * 9 // 10] * 1e3:.2f})")
