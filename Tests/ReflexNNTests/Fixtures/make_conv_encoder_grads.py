"""Records what ReflexNN's ConvEncoder must reproduce in training: conv_encoder_grads.safetensors beside this script.

The encoder is built in torch with the same parameter names as Reflex saves (convs.i, norms.i, LeRobot's own
SpatialSoftmax as `pool`, out): (Conv2d 3x3 stride 2 padding 1 -> GroupNorm -> ReLU) x 3, spatial softmax keypoints,
Linear -> ReLU. Weights come from torch.manual_seed(0) (GroupNorm's affine parameters randomized so their gradients
are not trivial); the forward and backward run in float64 so the reference carries no float32 rounding, and are
stored as float32. The loss is L = sum(features * r) with a fixed random r, so dL/dfeatures = r.

  <parameter names>   the state dict (convolution weights (C_out, C_in, kh, kw)), pool.pos_grid included
  grad.<name>         dL/d<name>
  x                   the input images, N x C x H x W
  features, r         the encoder's output and the loss weights
The metadata's `config` is the ConvEncoderConfig JSON, so ConvEncoder.load(from:) reads the file as it is.

Run from the repository root: /work/venv-lerobot/bin/python Tests/ReflexNNTests/Fixtures/make_conv_encoder_grads.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file
from lerobot.policies.diffusion.modeling_diffusion import SpatialSoftmax

CONFIG = dict(imageHeight=24, imageWidth=24, inChannels=3, channels=[8, 16, 16], kernelSize=3, stride=2, padding=1,
              groupSize=4, keypoints=8, features=16)


class ConvEncoder(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        ins = [c["inChannels"]] + c["channels"][:-1]
        self.convs = torch.nn.ModuleList(
            torch.nn.Conv2d(i, o, c["kernelSize"], stride=c["stride"], padding=c["padding"])
            for i, o in zip(ins, c["channels"]))
        self.norms = torch.nn.ModuleList(torch.nn.GroupNorm(max(1, o // c["groupSize"]), o) for o in c["channels"])
        h, w = c["imageHeight"], c["imageWidth"]
        for _ in c["channels"]:
            h = (h + 2 * c["padding"] - c["kernelSize"]) // c["stride"] + 1
            w = (w + 2 * c["padding"] - c["kernelSize"]) // c["stride"] + 1
        self.pool = SpatialSoftmax((c["channels"][-1], h, w), num_kp=c["keypoints"])
        self.out = torch.nn.Linear(2 * c["keypoints"], c["features"])

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = torch.relu(norm(conv(x)))
        return torch.relu(self.out(torch.flatten(self.pool(x), 1)))


torch.manual_seed(0)
model = ConvEncoder(CONFIG)
with torch.no_grad():
    for norm in model.norms:
        norm.weight.copy_(1 + 0.3 * torch.randn_like(norm.weight))
        norm.bias.copy_(0.2 * torch.randn_like(norm.bias))
x = torch.rand(2, CONFIG["inChannels"], CONFIG["imageHeight"], CONFIG["imageWidth"]) * 2 - 1
r = torch.randn(2, CONFIG["features"])

model = model.double()
features = model(x.double())
(features * r.double()).sum().backward()

out = {"x": x, "r": r, "features": features.detach().float()}
for name, t in model.state_dict().items():
    out[name] = t.float()
for name, p in model.named_parameters():
    out[f"grad.{name}"] = p.grad.float()
out = {k: v.contiguous() for k, v in out.items()}
path = pathlib.Path(__file__).resolve().parent / "conv_encoder_grads.safetensors"
save_file(out, str(path), metadata={"config": json.dumps(CONFIG)})
print(path, path.stat().st_size, "bytes;", (features > 0).sum().item(), "of", features.numel(), "features active")
