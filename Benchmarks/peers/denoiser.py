"""PyTorch side of `reflex bench denoiser`: the same MLP denoiser (concatenated [x_t, sinusoidal emb(t), condition]
→ Linear → LayerNorm → Mish … → Linear), one evaluation at batch 1 and K, timed the same way.
Prints JSON like `reflex bench denoiser --json`.
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
    print(json.dumps({"meta": {"threads": a.threads}, "timings": out}))


if __name__ == "__main__":
    main()
