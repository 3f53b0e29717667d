"""Checks safetensors interchange both ways with Python's own `safetensors` package:
Python writes a file, `reflex convert` rewrites it (F32, F16, BF16), Python loads Reflex's files and compares.

Run: ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/safetensors_check.py [path/to/reflex]
Exits non-zero on any mismatch.
"""
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

reflex = sys.argv[1] if len(sys.argv) > 1 else ".build/release/reflex"
g = torch.Generator().manual_seed(0)
tensors = {"layer.weight": torch.randn(64, 32, generator=g), "layer.bias": torch.randn(64, generator=g),
           "scalar": torch.tensor(1.5), "empty": torch.zeros(0, 3)}
failures = 0
with tempfile.TemporaryDirectory() as d:
    src = f"{d}/python.safetensors"
    save_file(tensors, src, metadata={"origin": "python"})
    for dtype, torch_dtype in [("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)]:
        dst = f"{d}/reflex-{dtype}.safetensors"
        subprocess.run([reflex, "convert", src, dst, "--dtype", dtype], check=True, capture_output=True)
        loaded = load_file(dst)
        for name, t in tensors.items():
            expected = t.to(torch_dtype)
            got = loaded[name]
            ok = got.dtype == torch_dtype and got.shape == t.shape and torch.equal(got, expected)
            print(f"{dtype:5} {name:14} {'ok' if ok else 'MISMATCH'}")
            failures += not ok
print("all files Reflex wrote load in Python and match bit for bit" if failures == 0 else f"{failures} mismatches")
sys.exit(1 if failures else 0)
