#!/usr/bin/env python3
"""Remote inference side by side, from one Python client: `reflex serve`'s POST /v1/predict against LeRobot 0.4's own
async-inference policy server (gRPC; Benchmarks/peers/lerobot_policy_server.py, which states its one fix), both
serving the same LeRobot diffusion checkpoint (Benchmarks/peers/make_lerobot_policy.py: SO-101 state + one
3×96×96 camera, ResNet-18, DDIM over the same number of steps), torch on one thread against Reflex's one kernel
thread, one inference at a time. Each request is timed by the client from the moment it starts serializing the
observation to the moment it holds the action chunk as an array (the same boundary on both sides), over rounds of
--requests requests that alternate between the servers. The observations are the same on both sides.

What each side's figure includes:
- LeRobot: its protocol as its RobotClient speaks it — pickle of a TimedObservation (raw uint8 camera frame + joint
  values), SendObservations (a client stream of 2 MB chunks), the server's unpickling, its observation queue, then
  GetActions: conversion to LeRobot's observation format (camera frame resized to the policy's shape), the
  preprocessor pipeline, predict_action_chunk, the postprocessor per action, a list of TimedAction pickled back,
  unpickled here. One observation per request (the server keeps the history). Its INFO logging runs as shipped.
- Reflex: one HTTP/1.1 request on a kept-alive loopback connection with a bearer token, the body a safetensors file
  with the n_obs_steps-step history (F32, the camera frame as LeRobot's pipeline floats in [0, 1]), answered with a
  safetensors file holding the chunk; its own inference_us is read from the answer's metadata.

  $(Benchmarks/peers/setup.sh) Benchmarks/serve_predict_compare.py [--requests 50] [--rounds 4] [--steps 10]

The earlier stand-in (Benchmarks/peers/serve_python.py: the MLP denoiser in PyTorch behind the standard library's
HTTP server, loaded by wrk) is kept as a secondary figure: `Benchmarks/serve_predict_compare.py --stand-in
[--seconds 30] [--connections 16] [--repeats 2]`.
"""
import argparse
import datetime
import http.client
import json
import os
import pathlib
import pickle  # nosec: LeRobot's protocol
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from serve_load import ROOT, REFLEX, free_port, parse_wrk  # noqa: E402

VENV = pathlib.Path(os.environ.get("REFLEX_PEERS_VENV", pathlib.Path.home() / ".cache/reflex/peers-venv"))
PY = VENV / "bin" / "python"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
IMAGE = (96, 96, 3)


def load_average():
    return " / ".join(open("/proc/loadavg").read().split()[:3])


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def quantile(xs, q):
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def wait_up(url, headers):
    for _ in range(300):
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:  # noqa: BLE001
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


class LeRobotClient:
    """The calls LeRobot's RobotClient makes (robot_client.py), one observation → one chunk at a time."""

    def __init__(self, port, policy_dir, actions_per_chunk):
        import grpc
        from lerobot.async_inference.helpers import RemotePolicyConfig
        from lerobot.datasets.utils import hw_to_dataset_features
        from lerobot.transport import services_pb2, services_pb2_grpc
        from lerobot.transport.utils import grpc_channel_options
        self.pb = services_pb2
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", grpc_channel_options())
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.stub = services_pb2_grpc.AsyncInferenceStub(self.channel)
        features = {f"{j}.pos": float for j in JOINTS} | {"front": IMAGE}
        lerobot_features = hw_to_dataset_features(features, "observation", use_video=False)
        self.stub.Ready(services_pb2.Empty())
        spec = RemotePolicyConfig("diffusion", str(policy_dir), lerobot_features, actions_per_chunk, "cpu")
        self.stub.SendPolicyInstructions(services_pb2.PolicySetup(data=pickle.dumps(spec)))
        self.step = 0

    def request(self, state, frame):
        from lerobot.async_inference.helpers import TimedObservation
        from lerobot.transport.utils import send_bytes_in_chunks
        raw = {f"{j}.pos": float(v) for j, v in zip(JOINTS, state)} | {"front": frame}
        t0 = time.perf_counter_ns()
        obs = TimedObservation(timestamp=time.time(), timestep=self.step, observation=raw, must_go=True)
        self.stub.SendObservations(send_bytes_in_chunks(pickle.dumps(obs), self.pb.Observation, silent=True))
        reply = self.stub.GetActions(self.pb.Empty())
        actions = pickle.loads(reply.data)  # nosec: LeRobot's protocol
        chunk = [a.get_action().numpy() for a in actions]
        us = (time.perf_counter_ns() - t0) / 1000
        if not chunk:
            raise SystemExit("LeRobot's policy server answered without actions (see its log)")
        self.step += 1
        return us


class ReflexClient:
    def __init__(self, port, token, n_obs):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.headers = {"Content-Type": "application/octet-stream", "Authorization": f"Bearer {token}"}
        self.history = []
        self.n_obs = n_obs
        self.inference_us = []

    def request(self, state, frame):
        import numpy as np
        from safetensors.numpy import load, save
        t0 = time.perf_counter_ns()
        row = np.concatenate([np.asarray(state, dtype=np.float32),
                              (frame.astype(np.float32) / 255).transpose(2, 0, 1).reshape(-1)])
        self.history = (self.history + [row])[-self.n_obs:]
        rows = [self.history[0]] * (self.n_obs - len(self.history)) + self.history  # as LeRobot's queue at the start
        self.conn.request("POST", "/v1/predict?policy=lerobot&seed=1", body=save({"observation": np.stack(rows)}),
                          headers=self.headers)
        reply = self.conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise SystemExit(f"reflex serve answered {reply.status}: {body[:300]!r}")
        chunk = load(body)["action"]
        us = (time.perf_counter_ns() - t0) / 1000
        header = json.loads(body[8:8 + int.from_bytes(body[:8], "little")])
        self.inference_us.append(float(header["__metadata__"]["inference_us"]))
        assert chunk.shape[1] == len(JOINTS)
        return us


def lerobot_total_ms(log_dir):
    """LeRobot's own per-observation figure from its log: preparation, preprocessor, inference, postprocessor."""
    out = []
    for f in pathlib.Path(log_dir).glob("logs/policy_server_*.log"):
        out += [float(m) for m in re.findall(r"Observation \d+ \| Total time: ([0-9.]+)ms", f.read_text())]
    return out


def headline(a):
    import numpy as np
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="reflex-lerobot-serve-"))
    policy = tmp / "policy"
    subprocess.run([str(PY), str(ROOT / "Benchmarks/peers/make_lerobot_policy.py"), str(policy), "--steps",
                    str(a.steps), "--down-dims", a.down_dims], check=True, capture_output=True)
    n_obs = json.loads((policy / "config.json").read_text())["n_obs_steps"]
    token = secrets.token_urlsafe(24)
    (tmp / "token").write_text(token)
    os.chmod(tmp / "token", 0o600)
    rport, lport = free_port(), free_port()
    (tmp / "serve.yaml").write_text(f"""arm:
  robot: so101
  fake: true
policies:
  lerobot: {policy}
listen: 127.0.0.1:{rport}
token_file: {tmp}/token
max_body_bytes: 4194304
""")
    daemon = subprocess.Popen([str(REFLEX), "serve", "--config", str(tmp / "serve.yaml"), "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=open(tmp / "reflex.log", "w"))
    peer = subprocess.Popen([str(PY), str(ROOT / "Benchmarks/peers/lerobot_policy_server.py"), "--threads", "1",
                             "--host=127.0.0.1", f"--port={lport}", "--fps=30", "--inference_latency=0",
                             "--obs_queue_timeout=10"], cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "lerobot.log", "w"))
    rng = np.random.default_rng(0)
    observations = [(rng.uniform(-1.5, 1.5, len(JOINTS)), rng.integers(0, 256, IMAGE, dtype=np.uint8))
                    for _ in range(16)]
    times = {"reflex": [], "lerobot": []}
    loads = [load_average()]
    try:
        wait_up(f"http://127.0.0.1:{rport}/v1/status", {"Authorization": f"Bearer {token}"})
        sides = {"reflex": ReflexClient(rport, token, n_obs), "lerobot": LeRobotClient(lport, policy, 8)}
        for side in sides.values():  # warm-up: first calls allocate and load
            for i in range(5):
                side.request(*observations[i % len(observations)])
        sides["reflex"].inference_us.clear()
        for r in range(a.rounds):
            order = ["reflex", "lerobot"] if r % 2 == 0 else ["lerobot", "reflex"]
            for name in order:
                for i in range(a.requests):
                    times[name].append(sides[name].request(*observations[i % len(observations)]))
            loads.append(load_average())
        lerobot_ms = lerobot_total_ms(tmp)[5:]
        reflex_us = sides["reflex"].inference_us
    finally:
        daemon.send_signal(signal.SIGTERM)
        peer.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
        try:
            peer.wait(timeout=10)
        except subprocess.TimeoutExpired:
            peer.kill()
    ms = lambda xs: f"{statistics.median(xs) / 1000:,.2f} ms"
    lines = ["| server (same LeRobot checkpoint) | requests | median | p10–p90 | p99 | server's own inference median |",
             "|---|---|---|---|---|---|"]
    own = {"reflex": f"{statistics.median(reflex_us) / 1000:,.2f} ms (`inference_us`)",
           "lerobot": (f"{statistics.median(lerobot_ms):,.2f} ms (its log's \"Total time\")" if lerobot_ms else "-")}
    label = {"reflex": "Reflex `reflex serve`, POST /v1/predict (HTTP, safetensors), 1 kernel thread",
             "lerobot": "LeRobot 0.4.4 async-inference policy server (gRPC, pickle), torch 1 thread"}
    for name in ("reflex", "lerobot"):
        xs = times[name]
        lines.append(f"| {label[name]} | {len(xs)} | {ms(xs)} | {quantile(xs, .1) / 1000:,.2f}–"
                     f"{quantile(xs, .9) / 1000:,.2f} ms | {quantile(xs, .99) / 1000:,.2f} ms | {own[name]} |")
    m = {k: statistics.median(v) for k, v in times.items()}
    p99 = {k: quantile(v, .99) for k, v in times.items()}
    lines.append("")
    lines.append(f"LeRobot / Reflex: **{m['lerobot'] / m['reflex']:.2f}×** at the median, "
                 f"**{p99['lerobot'] / p99['reflex']:.2f}×** at p99.")
    cfg = json.loads((policy / "config.json").read_text())
    lines.append(f"Policy: {cfg['noise_scheduler_type']} {cfg['num_inference_steps']} steps, down_dims "
                 f"{tuple(cfg['down_dims'])}, {cfg['vision_backbone']}, image 3×96×96, n_obs_steps {n_obs}, "
                 f"horizon {cfg['horizon']}.")
    import lerobot
    import torch
    lines.append(f"Measured {datetime.date.today().isoformat()} on {cpu_name()} ({os.cpu_count()} cores, shared; load average "
                 f"{loads[0]} before, then after each round {'; '.join(loads[1:])}), lerobot {lerobot.__version__}, "
                 f"torch {torch.__version__}; {a.rounds} alternating rounds of {a.requests} requests per side after 5 "
                 f"warm-up requests each; reproduce with `Benchmarks/serve_predict_compare.py --requests {a.requests} "
                 f"--rounds {a.rounds} --steps {a.steps}` (run by the peers' venv python).")
    print("\n".join(lines))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"times_us": times, "reflex_inference_us": reflex_us,
                                                    "lerobot_total_ms": lerobot_ms, "loads": loads}) + "\n")


def wrk(a, url, token=None):
    lua = ROOT / "Benchmarks/serve_predict.lua"
    cmd = ["wrk", "-t", "1", "-c", str(a.connections), "-d", f"{a.seconds}s", "--latency", "--timeout", "5s", "-s", str(lua)]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    return parse_wrk(out)


def stand_in(a):
    """The secondary figure: the bundled MLP policy in `reflex serve` against Benchmarks/peers/serve_python.py (not
    LeRobot's server: the same MLP denoiser in PyTorch behind the standard library's HTTP server), under wrk."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="reflex-predict-"))
    token = secrets.token_urlsafe(24)
    (tmp / "token").write_text(token)
    os.chmod(tmp / "token", 0o600)
    rport, pport = free_port(), free_port()
    (tmp / "serve.yaml").write_text(f"""arm:
  robot: so101
  fake: true
policies:
  lift: {ROOT}/policies/so101-lift
listen: 127.0.0.1:{rport}
token_file: {tmp}/token
""")
    daemon = subprocess.Popen([str(REFLEX), "serve", "--config", str(tmp / "serve.yaml"), "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peer = subprocess.Popen([str(PY), str(ROOT / "Benchmarks/peers/serve_python.py"), "--port", str(pport)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = {"reflex": [], "python": []}
    try:
        wait_up(f"http://127.0.0.1:{rport}/v1/status", {"Authorization": f"Bearer {token}"})
        wait_up(f"http://127.0.0.1:{pport}/", {})
        for _ in range(a.repeats):
            rows["reflex"].append(wrk(a, f"http://127.0.0.1:{rport}/v1/predict", token))
            rows["python"].append(wrk(a, f"http://127.0.0.1:{pport}/predict"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        peer.kill()
        daemon.wait(timeout=20)
    res = {"seconds": a.seconds, "connections": a.connections, "load_average": os.getloadavg(), "runs": rows}
    print(json.dumps(res, indent=2))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=50, help="requests per side per round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10, help="DDIM denoising steps of the served checkpoint")
    ap.add_argument("--down-dims", default="64,128,256")
    ap.add_argument("--stand-in", action="store_true", help="the secondary figure against serve_python.py, under wrk")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    stand_in(a) if a.stand_in else headline(a)


if __name__ == "__main__":
    main()
