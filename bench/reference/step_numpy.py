"""The batched step of SPEC §3 in numpy, float32, the same computation as the onnx engine:
two matrix products (X·W and Xᵀ·(s∘c)) for all T chains at once, no n×d per-sample matrix.

Usage: python3 step_numpy.py DATA_DIR STEPS WARMUP
Prints one JSON line: {"msPerStep", "steps", "numpy"}. Writes DATA_DIR/check_numpy.npy: one step
from DATA_DIR/Wcheck.npy with ξ = 0, which bench/step.ts compares with the engine's step.
"""

import json
import os
import sys

import numpy as np

from common import load, median, timings_ms


def make_step(X, y, eta, m, clip, sigma, n):
    negy = (-y).astype(np.float32)[:, None]
    f32 = np.float32
    eta_m, two_m, m_sq = f32(eta * m), f32(2 * m), f32(m * m)
    clip32, step_scale = f32(clip), f32(eta / n)
    noise_scale = f32(np.sqrt(2 * eta * sigma * sigma))

    def step(W, xi):
        Z = X @ W  # n×T
        with np.errstate(over="ignore", divide="ignore"):
            # c = (sigmoid(y·z) − 1)·y = −y·sigmoid(−y·z)
            c = negy / (f32(1) + np.exp(-(negy * Z)))
            # ‖g_i‖² = c·(c + 2m·z) + m²‖w‖², since ‖x_i‖ = 1
            norm_sq = c * (c + two_m * Z) + m_sq * np.einsum("ij,ij->j", W, W)[None, :]
            s = np.minimum(f32(1), clip32 / np.sqrt(np.maximum(norm_sq, f32(0))))
        G = X.T @ (s * c)  # d×T
        W_next = W * (f32(1) - eta_m * s.mean(axis=0, dtype=np.float32)) - step_scale * G
        if xi is not None:
            W_next += noise_scale * xi
        return W_next

    return step


def main():
    data_dir, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    X, y, W0, p = load(data_dir)
    n = X.shape[0]
    step = make_step(X, y, p["eta"], p["m"], p["clip"], p["sigma"], n)
    W_check = np.load(os.path.join(data_dir, "Wcheck.npy"))
    np.save(os.path.join(data_dir, "check_numpy.npy"), step(W_check, None).astype(np.float32))

    rng = np.random.default_rng(p["seed"])
    state = {"W": W0.copy()}

    def one():
        # The noise draw is part of a step's cost, as in the engines.
        xi = rng.standard_normal(W0.shape, dtype=np.float32)
        state["W"] = step(state["W"], xi)

    ms = median(timings_ms(one, warmup, steps))
    print(json.dumps({"msPerStep": ms, "steps": steps, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
