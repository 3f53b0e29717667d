"""ONNX Runtime as a peer, shared by the peer scripts (nn.py, denoiser.py, unet.py): a module exported to ONNX from
the very instance PyTorch times, run through ONNX Runtime's Python API with one intra-op thread, sequential execution
and all graph optimizations; the cost of that Python call alone (an Identity graph fed the same inputs); and ONNX
Runtime's own per-run time without Python (its profiler's `model_run` events, which add a per-node event each:
an upper bound of the C++ call, never below it).
"""
import io
import json
import os
import statistics
import tempfile
import time

import torch


def session(model_bytes, threads=1, profile_prefix=None):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def export(module, args, names, dynamic_batch=()):
    """ONNX bytes of `module` (the same instance the caller times), inputs named `names`, batch axis 0 dynamic for
    the inputs in `dynamic_batch`."""
    buf = io.BytesIO()
    torch.onnx.export(module, args, buf, input_names=list(names), output_names=["y"],
                      dynamic_axes={n: {0: "batch"} for n in dynamic_batch} or None, dynamo=False)
    return buf.getvalue()


class _Copy(torch.nn.Module):
    def forward(self, *xs):
        return tuple(x.clone() for x in xs)


def call_floor(feed, rounds, calls, warmup):
    """Per-call microseconds of ONNX Runtime's Python call on a graph that only copies `feed`'s inputs."""
    names = list(feed)
    buf = io.BytesIO()
    torch.onnx.export(_Copy(), tuple(torch.from_numpy(feed[n]) for n in names), buf, input_names=names,
                      output_names=[f"y{i}" for i in range(len(names))], dynamo=False)
    sess = session(buf.getvalue())
    return timed(lambda: sess.run(None, feed), rounds, calls, warmup)


def timed(body, rounds, calls, warmup):
    for _ in range(warmup):
        body()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            body()
        out.append((time.perf_counter_ns() - t0) / 1000 / calls)
    return out


def own_run_micros(model_bytes, feed, runs, warmup, threads=1):
    """ONNX Runtime's own duration of each run (µs), from its profiler: no Python in the figure."""
    with tempfile.TemporaryDirectory() as d:
        sess = session(model_bytes, threads, profile_prefix=os.path.join(d, "ort"))
        for _ in range(warmup + runs):
            sess.run(None, feed)
        path = sess.end_profiling()
        events = json.load(open(path))
    runs_us = [e["dur"] for e in events if e.get("name") == "model_run"]
    return runs_us[warmup:]


def median(xs):
    return statistics.median(xs) if xs else float("nan")
