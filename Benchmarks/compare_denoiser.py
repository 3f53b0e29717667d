#!/usr/bin/env python3
"""Reflex's MLP denoiser against the same network in PyTorch eager and in ONNX Runtime, alternating in one run:
runs `Benchmarks/peers/denoiser.py --compare` (which times `reflex bench denoiser --json`, PyTorch and ONNX Runtime
in turn in every repeat) in the peers' virtual environment, and prints its table.

Usage: Benchmarks/compare_denoiser.py [--repeats 3] [--hidden 256,256,256] [--observation 29]
(run from the repo root after `make build`; the peer runs in the venv made by Benchmarks/peers/setup.sh,
$REFLEX_PEERS_VENV or ~/.cache/reflex/peers-venv)."""
import os
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
venv = os.environ.get("REFLEX_PEERS_VENV", os.path.expanduser("~/.cache/reflex/peers-venv"))
py = f"{venv}/bin/python"
os.execv(py, [py, str(root / "Benchmarks/peers/denoiser.py"), "--compare", "--rounds", "15"] + sys.argv[1:])
