"""Peers of `reflex bench nn`: the same two networks, timed the same way (rounds of calls, median of round means,
microseconds). Prints JSON like `reflex bench nn --json`.

The batch-1 MLP runs under PyTorch eager and, exported from the same module, under ONNX Runtime through its Python
API (one thread, sequential execution); `onnx_call_floor` is ONNX Runtime's Python call on a graph that only copies
its input (Identity): the part of each call that is the Python API and not the network. `--torchscript PATH` also
saves the module traced (TorchScript) for the C++ libtorch peer (Benchmarks/peers/mlp_libtorch.cpp).

Run: $(Benchmarks/peers/setup.sh) Benchmarks/peers/nn.py [--rounds 21] [--threads 1,2] [--torchscript FILE.pt]
"""
import argparse
import json

import torch
import torch.nn as nn

import ort_peer


def measure(warmup, rounds, calls, body):
    return {"roundMicros": ort_peer.timed(body, rounds, calls, warmup)}


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
    ap.add_argument("--torchscript", help="save the traced batch-1 MLP here (the libtorch peer's input)")
    ap.add_argument("--no-onnx", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)

    torch.set_num_threads(1)
    infer = mlp([64, 256, 256, 256, 16], nn.Mish).eval()
    x = torch.randn(1, 64)

    # inference_mode entered once, outside the timed calls: PyTorch's fastest eager configuration.
    with torch.inference_mode():
        inference = measure(2000, args.rounds, 2000, lambda: infer(x))
    if args.torchscript:
        torch.jit.trace(infer, x).save(args.torchscript)
    onnx = onnx_runtime(infer, x, args.rounds) if not args.no_onnx else None

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
    out = {"torch": torch.__version__, "inference": inference, "training": training}
    if onnx:
        out.update(onnx)
    print(json.dumps(out))


def onnx_runtime(module, x, rounds):
    """The same module exported to ONNX, run by ONNX Runtime's Python API (ort_peer's session: one thread,
    sequential, all optimizations); and the API's own cost per call on a copy-only graph."""
    import onnxruntime as ort
    sess = ort_peer.session(ort_peer.export(module, (x,), ["x"]))
    feed = {"x": x.numpy()}
    net = measure(2000, rounds, 2000, lambda: sess.run(None, feed))
    floor = {"roundMicros": ort_peer.call_floor(feed, rounds, 2000, 2000)}
    return {"onnxruntime": ort.__version__, "onnx_inference": net, "onnx_call_floor": floor}


if __name__ == "__main__":
    main()
