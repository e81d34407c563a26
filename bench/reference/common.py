"""Shared loading and timing for the step-benchmark references (bench/step.ts writes the inputs)."""

import json
import os
import sys
import time

import numpy as np


def load(data_dir):
    """X (n×d float32, unit rows), y (n, ±1 float32), W0 (d×T float32) and the step constants."""
    X = np.load(os.path.join(data_dir, "X.npy"))
    y = np.load(os.path.join(data_dir, "y.npy"))
    W0 = np.load(os.path.join(data_dir, "W0.npy"))
    with open(os.path.join(data_dir, "params.json")) as f:
        params = json.load(f)
    for name, arr in (("X", X), ("y", y), ("W0", W0)):
        if arr.dtype != np.float32:
            sys.exit(f"{name}.npy must be float32, got {arr.dtype}")
    return X, y, W0, params


def timings_ms(fn, warmup, repeats):
    """Wall times of `repeats` calls of fn() in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
