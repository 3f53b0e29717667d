#!/usr/bin/env python3
"""End to end through the daemon: for each seed, `reflex serve` with the simulated SO-101 lift scene (examples/
serve-sim.yaml, 20 Hz, the bundled policy), `POST /v1/episode/start` over the Unix socket, poll `/v1/status` until
the task reports success or `--seconds` pass, then SIGTERM. Prints successes (the scene's own lift test) and the
loop's deadline misses per seed.

  Benchmarks/serve_lift.py [--seeds 0-9] [--seconds 12]
  Benchmarks/serve_lift.py --hil [--seeds 1000-1019] [--seconds 6]

With --hil it is hardware in the loop instead: `reflex emulate --robot so101 --sim lift --camera` on a pty, one
`reflex serve` on that bus with `arm.camera` (joints through the emulated Feetech bus, the cube over the camera
channel), and one episode per seed through the same daemon (each start resets the scene over the channel; success
is the emulator's scorer).
"""
import argparse
import json
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def get(path, sock, method="GET", body=None):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return json.loads(out.split(b"\r\n\r\n", 1)[1])


def hil(a, lo, hi):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="reflex-hil-"))
    bus, cam, sock = str(tmp / "bus"), str(tmp / "cam"), str(tmp / "r.sock")
    emu = subprocess.Popen([str(ROOT / ".build/release/reflex"), "emulate", "--robot", "so101", "--sim", "lift",
                            "--link", bus, "--camera", cam], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if pathlib.Path(cam).exists():
            break
        time.sleep(0.1)
    cfg = tmp / "c.yaml"
    cfg.write_text(f"arm:\n  robot: so101\n  port: {bus}\n  camera: {cam}\n  seed: {lo}\npolicies:\n"
                   f"  lift: {ROOT / 'policies/so101-lift'}\nlisten: unix:{sock}\nrate: 20\n")
    p = subprocess.Popen([str(ROOT / ".build/release/reflex"), "serve", "--config", str(cfg), "--log-level", "error"],
                         stderr=subprocess.DEVNULL)
    wins = 0
    try:
        for _ in range(100):
            try:
                get("/v1/status", sock)
                break
            except OSError:
                time.sleep(0.1)
        for seed in range(lo, hi + 1):
            get("/v1/episode/start", sock, "POST", {"policy": "lift"})
            t0 = time.time()
            s = get("/v1/status", sock)
            while time.time() - t0 < a.seconds and not s["task"]["success"]:
                time.sleep(0.1)
                s = get("/v1/status", sock)
            ok = s["task"]["success"]
            wins += ok
            loop = s["controller"]["loop"]["counters"]
            print(f"seed {seed}: {'lifted' if ok else 'no lift'} after {time.time() - t0:.1f} s, {loop['ticks']} ticks, "
                  f"{loop['deadline_misses']} misses", flush=True)
            get("/v1/episode/stop", sock, "POST", {})
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        emu.terminate()
    print(f"{wins}/{hi - lo + 1} lifted (hardware in the loop through the daemon)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--hil", action="store_true")
    a = ap.parse_args()
    lo, hi = map(int, (a.seeds or ("1000-1019" if a.hil else "0-9")).split("-"))
    if a.hil:
        a.seconds = a.seconds or 6
        return hil(a, lo, hi)
    a.seconds = a.seconds or 12
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="reflex-lift-"))
    base = (ROOT / "examples/serve-sim.yaml").read_text()
    wins = 0
    for seed in range(lo, hi + 1):
        sock = str(tmp / "r.sock")
        cfg = tmp / "c.yaml"
        cfg.write_text(base.replace("seed: 0", f"seed: {seed}").replace("unix:/tmp/reflex.sock", f"unix:{sock}")
                       .replace("policies/so101-lift", str(ROOT / "policies/so101-lift")))
        p = subprocess.Popen([str(ROOT / ".build/release/reflex"), "serve", "--config", str(cfg), "--log-level", "error"],
                             stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                get("/v1/status", sock)
                break
            except OSError:
                time.sleep(0.1)
        get("/v1/episode/start", sock, "POST", {"policy": "lift"})
        t0 = time.time()
        s = get("/v1/status", sock)
        while time.time() - t0 < a.seconds and not s["task"]["success"]:
            time.sleep(0.25)
            s = get("/v1/status", sock)
        loop = s["controller"]["loop"]["counters"]
        ok = s["task"]["success"]
        wins += ok
        print(f"seed {seed}: {'lifted' if ok else 'no lift'} after {time.time() - t0:.1f} s "
              f"(highest {s['task']['highest_lift'] * 100:.1f} cm), {loop['ticks']} ticks, {loop['deadline_misses']} misses", flush=True)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
    print(f"{wins}/{hi - lo + 1} lifted")


if __name__ == "__main__":
    main()
