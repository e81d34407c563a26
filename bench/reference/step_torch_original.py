"""The original research code's way of working, written from SPEC §3: PyTorch on the CPU, float32,
one chain at a time, and each step materialises the n×d matrix of per-sample gradients
g_i = c_i·x_i + m·w, clips every row to norm M, and averages.

Usage: python3 step_torch_original.py DATA_DIR CHAINS STEPS WARMUP
Times CHAINS chains × STEPS steps (after WARMUP untimed steps) and prints one JSON line:
{"msPerChainStep", "chains", "steps", "torch", "threads"}. Writes DATA_DIR/check_torch.npy: one step
of chain 0 from DATA_DIR/Wcheck.npy with ξ = 0, which bench/step.ts compares with the engine's step.
"""

import json
import math
import os
import sys

import numpy as np
import torch

from common import load, median, timings_ms


def main():
    data_dir, chains, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    # Use every core, as the engines do (torch's default may be lower under some launchers).
    torch.set_num_threads(os.cpu_count() or 1)
    Xn, yn, W0, p = load(data_dir)
    X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
    eta, m, clip, sigma = p["eta"], p["m"], p["clip"], p["sigma"]
    noise_scale = math.sqrt(2 * eta * sigma * sigma)
    gen = torch.Generator().manual_seed(p["seed"])

    def step(w, noisy=True):
        z = X @ w  # n
        c = (torch.sigmoid(y * z) - 1) * y
        G = c[:, None] * X + m * w[None, :]  # n×d per-sample gradients, regulariser inside
        G = G * torch.clamp(clip / G.norm(dim=1), max=1.0)[:, None]
        w = w - eta * G.mean(dim=0)
        if noisy:
            w = w + noise_scale * torch.randn(w.shape[0], generator=gen)
        return w

    with torch.no_grad():
        W_check = np.load(os.path.join(data_dir, "Wcheck.npy"))
        w_check = step(torch.from_numpy(W_check[:, 0].copy()), noisy=False)
        np.save(os.path.join(data_dir, "check_torch.npy"), w_check.numpy().astype(np.float32))
        times = []
        for t in range(chains):
            state = {"w": torch.from_numpy(W0[:, t].copy())}

            def one():
                state["w"] = step(state["w"])

            times.extend(timings_ms(one, warmup, steps))
    print(
        json.dumps(
            {
                "msPerChainStep": median(times),
                "chains": chains,
                "steps": steps,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
