"""RLtools' Pendulum SAC (src/rl/environments/pendulum/sac/cpu/training.cpp: 3-layer 64-unit MLPs, batch 100,
10,000 steps), built by hand outside the repository with OpenBLAS and -Ofast -march=native, as the RLtools paper
benchmarks it. The peer of `reflex bench sac --preset rltools`.

Two binaries from the same source: `sac_bench` (-DBENCHMARK: the training loop alone, timed by RLtools itself) and
`sac_eval` (the same run with RLtools' periodic evaluation of 100 episodes, for the final return). The source is a
checkout of github.com/rl-tools/rl-tools at --commit in --root (cloned when missing); training.h is patched only so
that `run(seed)` uses its seed argument (upstream passes 0).

    apt-get install -y libopenblas-dev
    ~/.cache/reflex/peers-venv/bin/python Benchmarks/peers/sac_rltools.py --seed 0 --json
"""
import argparse
import json
import os
import pathlib
import re
import resource
import subprocess
import tempfile
import time

COMMIT = "9acdf5c83cf2e7f2871cc4c37d002d5e3666d723"
TRAINING = "src/rl/environments/pendulum/sac/cpu/training.h"


def build(root: pathlib.Path, commit: str):
    if not (root / "include").exists():
        subprocess.run(["git", "clone", "https://github.com/rl-tools/rl-tools", str(root / "repo")], check=True)
        subprocess.run(["git", "-C", str(root / "repo"), "checkout", commit], check=True)
        subprocess.run(f"cd {root / 'repo'} && git archive HEAD include src/rl/environments/pendulum/sac/cpu | tar x -C {root}",
                       shell=True, check=True)
    training = root / TRAINING
    text = training.read_text()
    if "rlt::init(device, ts, 0);" in text:
        training.write_text(text.replace("rlt::init(device, ts, 0);", "rlt::init(device, ts, seed);"))
    main = root / "main.cpp"
    main.write_text('#include <cstdlib>\n#include "' + TRAINING + '"\n'
                    "int main(int argc, char** argv){ run(argc > 1 ? std::atoi(argv[1]) : 0); }\n")
    flags = ["g++", "-std=c++17", "-Ofast", "-march=native", "-DRL_TOOLS_BACKEND_ENABLE_OPENBLAS",
             "-DRL_TOOLS_DISABLE_HDF5", "-DRL_TOOLS_DISABLE_TENSORBOARD", f"-I{root / 'include'}",
             "-I/usr/include/x86_64-linux-gnu/openblas-pthread", str(main)]
    for name, extra in (("sac_bench", ["-DBENCHMARK"]), ("sac_eval", [])):
        exe = root / name
        if not exe.exists():
            subprocess.run(flags + extra + ["-o", str(exe), "-lopenblas", "-lpthread"], check=True,
                           stderr=subprocess.DEVNULL)
    return root / "sac_bench", root / "sac_eval"


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=os.path.expanduser("~/.cache/reflex/rltools"))
    ap.add_argument("--commit", default=COMMIT)
    ap.add_argument("--no-eval", action="store_true", help="only time the benchmark build")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    bench, evaluate = build(pathlib.Path(a.root), a.commit)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    cwd = tempfile.mkdtemp(prefix="rltools-")  # the eval build writes an experiments/ directory
    c0, w0 = children_cpu(), time.perf_counter()
    out = subprocess.run([str(bench), str(a.seed)], env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout
    wall, cpu = time.perf_counter() - w0, children_cpu() - c0
    loop = float(re.findall(r"Time: ([0-9.]+)s", out)[-1])
    result = {"peer": "rltools", "commit": a.commit, "seed": a.seed, "steps": 10_000, "seconds": loop,
              "process_seconds": wall, "cpu_seconds": cpu, "steps_per_second": 10_000 / loop}
    if not a.no_eval:
        text = subprocess.run([str(evaluate), str(a.seed)], env=env, cwd=cwd, capture_output=True, text=True,
                              check=True).stdout
        returns = re.findall(r"Step: 10000/10000 Mean return: (-?[0-9.]+)", text)
        result["final_mean_return"] = float(returns[-1]) if returns else None
        result["evaluation_episodes"] = 100
    print(json.dumps(result) if a.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
