"""Records diffusers' DDPMScheduler / DDIMScheduler as LeRobot configures them (100 train steps,
squaredcos_cap_v2, clip_sample, epsilon), plus variants, for ReflexPolicyTests: the schedules, and single reverse
steps with their inputs, model outputs, the exact noise the step drew, and the resulting sample.

Run from the repository root: ~/.cache/reflex/peers-venv/bin/python Tests/Fixtures/make_scheduler_fixture.py
"""
import json
import pathlib

import diffusers
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

out = pathlib.Path(__file__).resolve().parent.parent / "ReflexPolicyTests" / "Fixtures" / "schedulers.json"
shape = (2, 4, 2)


def scheduler(kind, **kw):
    args = dict(num_train_timesteps=100, beta_start=0.0001, beta_end=0.02, beta_schedule="squaredcos_cap_v2",
                clip_sample=True, clip_sample_range=1.0, prediction_type="epsilon")
    args.update(kw)
    if kind == "ddpm":
        return DDPMScheduler(variance_type="fixed_small", **args)
    return DDIMScheduler(set_alpha_to_one=True, steps_offset=0, **args)


def run(kind, steps, record, eta=0.0, seed=0, **kw):
    s = scheduler(kind, **kw)
    s.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(shape, generator=g) * 1.5
    rows = []
    for i, t in enumerate(s.timesteps.tolist()):
        model_output = torch.randn(shape, generator=g)
        before = sample.clone()
        probe = torch.Generator().set_state(g.get_state())
        noise = randn_tensor(shape, generator=probe)  # what the step below will draw
        if kind == "ddpm":
            sample = s.step(model_output, t, sample, generator=g).prev_sample
            drew = t > 0
        else:
            sample = s.step(model_output, t, sample, eta=eta, generator=g).prev_sample
            drew = eta > 0
        prev = s.timesteps.tolist()[i + 1] if i + 1 < len(s.timesteps) else -1
        if record == "all" or i in record:
            rows.append({"t": t, "previous": prev, "sample": before.flatten().tolist(),
                         "model_output": model_output.flatten().tolist(),
                         "noise": noise.flatten().tolist() if drew else None,
                         "expected": sample.flatten().tolist()})
    return {"kind": kind, "steps": steps, "eta": eta, "timesteps": s.timesteps.tolist(),
            "config": {k: v for k, v in kw.items()}, "rows": rows}


cases = [
    run("ddpm", 100, [0, 1, 50, 98, 99]),
    run("ddpm", 10, "all", seed=1),
    run("ddpm", 100, [0, 97, 99], seed=2, prediction_type="sample"),
    run("ddpm", 100, [0, 60, 99], seed=3, clip_sample=False),
    run("ddpm", 100, [0, 60, 99], seed=6, beta_schedule="linear"),
    run("ddim", 10, "all", seed=4),
    run("ddim", 8, "all", eta=0.5, seed=5),
    run("ddim", 5, "all", seed=7, prediction_type="sample"),
]
lin = scheduler("ddpm", beta_schedule="linear")
cos = scheduler("ddpm")
out.write_text(json.dumps({
    "diffusers": diffusers.__version__,
    "squaredcos_alphas_cumprod": cos.alphas_cumprod.tolist(),
    "squaredcos_betas": cos.betas.tolist(),
    "linear_alphas_cumprod": lin.alphas_cumprod.tolist(),
    "cases": cases,
}) + "\n")
print("wrote", out, out.stat().st_size, "bytes")
