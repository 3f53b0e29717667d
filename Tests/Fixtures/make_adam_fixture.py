"""Records torch.optim.Adam / AdamW trajectories that ReflexNNTests replays: parameters after each of five steps
with given gradients, for plain Adam, Adam with L2 weight decay, and AdamW.

Run from the repository root: ~/.cache/reflex/peers-venv/bin/python Tests/Fixtures/make_adam_fixture.py
"""
import json
import pathlib

import torch

out = pathlib.Path(__file__).resolve().parent.parent / "ReflexNNTests" / "Fixtures" / "adam.json"
g = torch.Generator().manual_seed(3)
p0 = torch.randn(12, generator=g)
grads = [torch.randn(12, generator=g) * (10 ** (k - 2)) for k in range(5)]
cases = {}
for name, make in {
    "adam": lambda p: torch.optim.Adam([p], lr=1e-2),
    "adam_l2": lambda p: torch.optim.Adam([p], lr=1e-2, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=1e-2, weight_decay=0.1),
}.items():
    p = torch.nn.Parameter(p0.clone())
    opt = make(p)
    steps = []
    for gr in grads:
        p.grad = gr.clone()
        opt.step()
        steps.append(p.detach().tolist())
    cases[name] = steps
out.write_text(json.dumps({"p0": p0.tolist(), "grads": [x.tolist() for x in grads], "steps": cases}) + "\n")
print("wrote", out)
