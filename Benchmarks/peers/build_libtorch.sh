#!/usr/bin/env bash
# Builds the C++ libtorch peer (Benchmarks/peers/mlp_libtorch.cpp) against the headers and libraries that the torch
# wheel in the peers venv ships, into .build/peers/ (git-ignored). It links libtorch_cpu and c10 only (the CPU
# kernels; the wheel's CUDA libraries are not needed on the CPU), with g++ -O3 -march=native.
# Usage: Benchmarks/peers/build_libtorch.sh     (prints the binary's path)
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${REFLEX_PEERS_VENV:-$HOME/.cache/reflex/peers-venv}/bin/python"
torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
out=.build/peers/mlp_libtorch
mkdir -p .build/peers
if [ ! -x "$out" ] || [ Benchmarks/peers/mlp_libtorch.cpp -nt "$out" ]; then
  abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  g++ -std=c++17 -O3 -march=native -D_GLIBCXX_USE_CXX11_ABI="$abi" \
    -I"$torch_dir/include" -I"$torch_dir/include/torch/csrc/api/include" \
    Benchmarks/peers/mlp_libtorch.cpp -o "$out" \
    -L"$torch_dir/lib" -Wl,--no-as-needed -ltorch_cpu -lc10 -Wl,--as-needed -Wl,-rpath,"$torch_dir/lib" -lpthread >&2
fi
echo "$PWD/$out"
