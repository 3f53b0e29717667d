"""Weights computed from a tensor's name and shape, identically in Tests/TestSupport/DeterministicWeights.swift:
a checkpoint too large to commit (a ResNet18 is 45 MB) is rebuilt bit for bit at test time from this rule, and the
fixtures keep only inputs and torch's outputs. See the Swift file for the rule."""
import math

import numpy as np
import torch


def fnv1a(s):
    h = 2166136261
    for b in s.encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def values(name, shape):
    if name.endswith(".image"):
        center, half = 0.5, 0.5
    elif name.endswith(".running_var"):
        center, half = 1.0, 0.5
    elif name.endswith(".running_mean"):
        center, half = 0.0, 0.1
    elif name.endswith(".bias"):
        center, half = 0.0, 0.1
    elif len(shape) == 1:
        center, half = 1.0, 0.2
    else:
        center, half = 0.0, math.sqrt(6.0 / float(np.prod(shape[1:])))
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    u = ((fnv1a(name) + i * 2654435761) & 0xFFFFFFFF).astype(np.float64) / 4294967296.0
    return torch.from_numpy((center + half * (2 * u - 1)).astype(np.float32).reshape(shape))


def fill(module, prefix=""):
    """Overwrites every float parameter and BatchNorm running statistic of `module` (names under `prefix`)."""
    with torch.no_grad():
        for name, t in list(module.state_dict(keep_vars=True).items()):
            if not t.is_floating_point() or name.endswith("pos_grid"):
                continue
            t.copy_(values(prefix + name, tuple(t.shape)))
