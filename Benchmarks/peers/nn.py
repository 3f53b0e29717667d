"""PyTorch side of `reflex bench nn`: the same two networks, timed the same way (rounds of calls, median of
round means, microseconds). Prints JSON like `reflex bench nn --json`.

Run: $(Benchmarks/peers/setup.sh) Benchmarks/peers/nn.py [--rounds 21] [--threads 1,2]
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def measure(warmup, rounds, calls, body):
    for _ in range(warmup):
        body()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            body()
        out.append((time.perf_counter_ns() - t0) / 1000 / calls)
    return {"roundMicros": out}


def mlp(sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    torch.manual_seed(0)

    torch.set_num_threads(1)
    infer = mlp([64, 256, 256, 256, 16], nn.Mish).eval()
    x = torch.randn(1, 64)

    # inference_mode entered once, outside the timed calls: PyTorch's fastest eager configuration.
    with torch.inference_mode():
        inference = measure(2000, args.rounds, 2000, lambda: infer(x))

    training = []
    for t in [int(s) for s in args.threads.split(",")]:
        torch.set_num_threads(t)
        net = mlp([64, 256, 256, 16], nn.ReLU)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xb, yb = torch.randn(256, 64), torch.randn(256, 16)

        def train_step():
            loss = ((net(xb) - yb) ** 2).mean()
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()

        training.append({"threads": t, "samples": measure(50, args.rounds, 50, train_step)})
    print(json.dumps({"torch": torch.__version__, "inference": inference, "training": training}))


if __name__ == "__main__":
    main()
