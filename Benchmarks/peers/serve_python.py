"""Peer of `reflex serve`'s POST /v1/predict: a Python inference server in the style of LeRobot's async inference
policy server (observation in, action chunk out over the network), on the standard library's threading HTTP server
with JSON bodies, calling the same MLP denoiser in PyTorch (Benchmarks/peers/denoiser.py) with DDIM over the same
number of network evaluations as the Reflex policy's sampler. Weights are random: this measures serving, not
accuracy.

  python serve_python.py --port 8081 [--hidden 256,256,256] [--observation 29] [--steps 3]

POST /predict {"observation": [n_obs × observation_size floats]} → {"actions": [[...] × horizon]}
"""
import argparse
import json
import pathlib
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from denoiser import Denoiser  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--hidden", default="256,256,256")
    ap.add_argument("--observation", type=int, default=29)
    ap.add_argument("--n-obs", type=int, default=2)
    ap.add_argument("--horizon", type=int, default=16)
    ap.add_argument("--action", type=int, default=6)
    ap.add_argument("--steps", type=int, default=3, help="denoiser evaluations per chunk (DDIM steps)")
    a = ap.parse_args()
    from diffusers import DDIMScheduler

    torch.set_num_threads(1)
    torch.manual_seed(0)
    n = a.horizon * a.action
    model = Denoiser(n + 64 + a.observation * a.n_obs, [int(h) for h in a.hidden.split(",")], n, 64).eval()
    scheduler = DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                              prediction_type="epsilon")
    lock = threading.Lock()  # one policy instance, one inference at a time (as the daemon's predictor)
    expected = a.n_obs * a.observation

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length))
                obs = torch.tensor(body["observation"], dtype=torch.float32).flatten()
                if obs.numel() != expected:
                    raise ValueError(f"observation has {obs.numel()} values, expected {expected}")
            except Exception as e:  # noqa: BLE001
                self.reply(400, {"error": "bad_request", "reason": str(e)})
                return
            with lock, torch.inference_mode():
                t0 = time.perf_counter()
                x = torch.randn(1, a.horizon, a.action)
                scheduler.set_timesteps(a.steps)
                for t in scheduler.timesteps:
                    eps = model(x, torch.full((1,), int(t)), obs[None]).view(1, a.horizon, a.action)
                    x = scheduler.step(eps, t, x).prev_sample
                us = (time.perf_counter() - t0) * 1e6
            self.reply(200, {"actions": x[0].tolist(), "inference_us": us})

        def reply(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"listening on 127.0.0.1:{a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
