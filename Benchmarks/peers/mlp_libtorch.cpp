// The C++ libtorch peer of `reflex bench nn`'s batch-1 MLP (64→3×256 Mish→16): the module nn.py traces and saves
// (TorchScript), loaded and run from C++ as a libtorch deployment would, on one thread, under InferenceMode, timed
// like Reflex and nn.py (rounds of calls, each round's mean in microseconds). Prints JSON.
// Build: Benchmarks/peers/build_libtorch.sh   Run: .build/peers/mlp_libtorch MODEL.pt [rounds]
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.pt [rounds]\n", argv[0]);
    return 2;
  }
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 21, calls = 2000, warmup = 2000;
  at::set_num_threads(1);
  at::set_num_interop_threads(1);
  torch::jit::Module module = torch::jit::load(argv[1]);
  module.eval();
  c10::InferenceMode guard;
  std::vector<torch::jit::IValue> input{torch::randn({1, 64})};
  for (int i = 0; i < warmup; ++i) module.forward(input);
  std::printf("{\"torch\": \"%s\", \"inference\": {\"roundMicros\": [", TORCH_VERSION);
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) module.forward(input);
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls;
    std::printf("%s%.4f", r ? ", " : "", us);
  }
  std::printf("]}}\n");
  return 0;
}
