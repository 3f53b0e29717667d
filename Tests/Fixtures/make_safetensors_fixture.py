"""Writes the safetensors fixture that ReflexCoreTests reads: tensors saved by Python's `safetensors` in F32,
F16, BF16 and F64, and, for each, the float32 bit patterns torch gets when it converts them, so the Swift test
checks bit-exact reads.

Run from the repository root with the peers' Python: $(Benchmarks/peers/setup.sh) Tests/Fixtures/make_safetensors_fixture.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file

out = pathlib.Path(__file__).resolve().parent.parent / "ReflexCoreTests" / "Fixtures"
out.mkdir(parents=True, exist_ok=True)

g = torch.Generator().manual_seed(7)
base = torch.randn(3, 5, generator=g)
special = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1e-5, 5.96e-8, 1e-40, 3.0e38, float("inf"), float("-inf")])
tensors = {
    "f32.matrix": base,
    "f32.special": special,
    "f16.matrix": base.to(torch.float16),
    "f16.special": special.to(torch.float16),
    "bf16.matrix": base.to(torch.bfloat16),
    "bf16.special": special.to(torch.bfloat16),
    "f64.vector": torch.linspace(-1, 1, 7, dtype=torch.float64),
    "scalar": torch.tensor(3.25),
    "empty": torch.zeros(0, 4),
}
save_file(tensors, str(out / "python.safetensors"), metadata={"format": "pt", "made_by": "make_safetensors_fixture.py"})

expected = {}
for name, t in tensors.items():
    f32 = t.to(torch.float32).contiguous()
    bits = f32.view(torch.int32).flatten().tolist()
    expected[name] = {"shape": list(t.shape), "dtype": str(t.dtype), "bits": [b & 0xFFFFFFFF for b in bits]}
(out / "python.expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
print("wrote", out / "python.safetensors")
