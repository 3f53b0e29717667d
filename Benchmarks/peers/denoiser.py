"""Peers of `reflex bench denoiser`: the same MLP denoiser (concatenated [x_t, sinusoidal emb(t), condition]
→ Linear → LayerNorm → Mish … → Linear), one evaluation at batch 1 and K, timed the same way, under PyTorch eager
and (`--onnx`) exported from the same module to ONNX Runtime, called through its Python API on one thread.
Prints JSON like `reflex bench denoiser --json` (the ONNX Runtime figures under "onnx_timings").
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn


class Denoiser(nn.Module):
    def __init__(self, in_size, hidden, out, emb):
        super().__init__()
        layers, w = [], in_size
        for h in hidden:
            layers += [nn.Linear(w, h), nn.LayerNorm(h), nn.Mish()]
            w = h
        layers.append(nn.Linear(w, out))
        self.net = nn.Sequential(*layers)
        half = emb // 2
        self.register_buffer("freqs", torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1))))

    def forward(self, x, t, cond):
        e = t[:, None].float() * self.freqs[None]
        emb = torch.cat([e.sin(), e.cos()], dim=-1)
        return self.net(torch.cat([x.flatten(1), emb, cond.expand(x.shape[0], -1)], dim=-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", default="512,512,512")
    ap.add_argument("--horizon", type=int, default=16)
    ap.add_argument("--action", type=int, default=6)
    ap.add_argument("--observation", type=int, default=32)
    ap.add_argument("--n-obs", type=int, default=2)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--onnx", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    hidden = [int(h) for h in a.hidden.split(",")]
    emb = 64
    cond_size = a.observation * a.n_obs
    n = a.horizon * a.action
    model = Denoiser(n + emb + cond_size, hidden, n, emb).eval()
    out = {}
    with torch.inference_mode():
        for k in [int(b) for b in a.batches.split(",")]:
            x, c, t = torch.randn(k, a.horizon, a.action), torch.randn(1, cond_size), torch.full((k,), 10)
            for _ in range(200):
                model(x, t, c)
            rounds = []
            for _ in range(a.rounds):
                t0 = time.perf_counter_ns()
                for _ in range(500):
                    model(x, t, c)
                rounds.append((time.perf_counter_ns() - t0) / 1000 / 500)
            out[f"k{k}"] = {"roundMicros": rounds}
    result = {"meta": {"threads": a.threads, "torch": torch.__version__}, "timings": out}
    if a.onnx:
        result.update(onnx_runtime(model, a, cond_size))
    print(json.dumps(result))


def onnx_runtime(model, a, cond_size):
    import io
    import onnxruntime as ort
    x, c, t = torch.randn(2, a.horizon, a.action), torch.randn(1, cond_size), torch.full((2,), 10)
    buf = io.BytesIO()
    torch.onnx.export(model, (x, t, c), buf, input_names=["x", "t", "cond"], output_names=["y"],
                      dynamic_axes={"x": {0: "k"}, "t": {0: "k"}}, dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    out = {}
    for k in [int(b) for b in a.batches.split(",")]:
        feed = {"x": torch.randn(k, a.horizon, a.action).numpy(), "t": torch.full((k,), 10).numpy(),
                "cond": torch.randn(1, cond_size).numpy()}
        for _ in range(200):
            sess.run(None, feed)
        rounds = []
        for _ in range(a.rounds):
            t0 = time.perf_counter_ns()
            for _ in range(500):
                sess.run(None, feed)
            rounds.append((time.perf_counter_ns() - t0) / 1000 / 500)
        out[f"k{k}"] = {"roundMicros": rounds}
    return {"onnxruntime": ort.__version__, "onnx_timings": out}


if __name__ == "__main__":
    main()
