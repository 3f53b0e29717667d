#!/usr/bin/env bash
# Creates the Python virtual environment that the peer benchmarks and fixture scripts run in.
# It lives outside the repository: $REFLEX_PEERS_VENV, or ~/.cache/reflex/peers-venv by default.
# Usage: Benchmarks/peers/setup.sh            (prints the path of the environment's python on its last line)
set -euo pipefail
venv="${REFLEX_PEERS_VENV:-$HOME/.cache/reflex/peers-venv}"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip wheel >&2
# Peers, pinned to the versions the figures in BENCHMARKS.md were measured with. grpcio and protobuf as lerobot's
# `async` extra pins them (its policy server, the remote-inference peer); onnx + onnxruntime for the ONNX Runtime peers.
"$venv/bin/python" -m pip install --quiet \
  "torch==2.*" "safetensors" "numpy" \
  "lerobot==0.4.*" \
  "onnx" "onnxruntime" \
  "grpcio==1.73.1" "protobuf>=6.31.1,<6.32.0" \
  "stable-baselines3==2.*" "gymnasium==1.*" "rl_zoo3" \
  "pybullet" \
  "dynamixel-sdk" "feetech-servo-sdk" \
  "matplotlib" >&2
echo "$venv/bin/python"
