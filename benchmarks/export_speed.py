"""Speed of the standard-ONNX export in ONNX Runtime against the onnx2snn runtime, side by side.

    python benchmarks/export_speed.py [--models mnist_cnn_relu,...] [--timesteps 8,32] [--batch 128]
                                      [--repeats 3] [--device cpu|cuda|auto] [--time-loop scan,unrolled]

Each bundled model is converted (threshold 'auto', θ/2, calibration on the first 256 training images);
then, for each T, ONNX Runtime runs the exported T-step graph (``export_standard_onnx``) and snnrt runs
``SpikingNetwork.run(x, T)`` on the same first --batch test images. A time is the best of --repeats runs
after one warm-up run; the table gives images per second and the ratio ORT / snnrt.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from onnx2snn.bundled import bundled_model  # noqa: E402
from onnx2snn.convert import convert  # noqa: E402
from onnx2snn.datasets import load_builtin  # noqa: E402
from onnx2snn.export.over_time import TIME_LOOPS  # noqa: E402
from onnx2snn.export.standard_onnx import DEFAULT_TIME_LOOP, export_standard_onnx, ort_session  # noqa: E402
from snnrt.simulate import SpikingNetwork  # noqa: E402

DATASETS = {"mnist_cnn_relu": "mnist5k", "mnist_cnn_clip": "mnist5k", "mnist_cnn_maxpool": "mnist5k",
            "digits_mlp": "digits"}
CALIBRATION = 256


def _best_seconds(run, repeats):
    run()  # warm-up: session set-up, memory arenas, kernel selection
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def time_exported(snn_model, x, timesteps, repeats=3, device="cpu", time_loop=DEFAULT_TIME_LOOP):
    """Images per second of ONNX Runtime on the exported T-step graph of ``snn_model`` for the batch x."""
    session = ort_session(export_standard_onnx(snn_model, timesteps, time_loop=time_loop), device)
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)}
    return len(x) / _best_seconds(lambda: session.run(None, feed), repeats)


def time_runtime(snn_model, x, timesteps, repeats=3, device="cpu"):
    """Images per second of snnrt's ``SpikingNetwork.run(x, T)`` for the batch x."""
    network = SpikingNetwork(snn_model, device)
    batch = torch.as_tensor(x).to(network.device)

    def run():
        network.run(batch, timesteps)
        if network.device.type == "cuda":
            torch.cuda.synchronize()

    return len(x) / _best_seconds(run, repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist_cnn_relu")
    parser.add_argument("--timesteps", default="8,32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--time-loop", default=DEFAULT_TIME_LOOP, help=f"comma-separated, from {TIME_LOOPS}")
    args = parser.parse_args(argv)
    loops = args.time_loop.split(",")
    print("| model | T | batch | snnrt img/s | " + " | ".join(f"ORT {loop} img/s | ratio" for loop in loops) + " |")
    print("|---|---|---|---|" + "---|---|" * len(loops))
    for name in args.models.split(","):
        calibration, _ = load_builtin(DATASETS[name], "train")
        x, _ = load_builtin(DATASETS[name], "test")
        snn = convert(bundled_model(name), calibration[:CALIBRATION]).model
        x = x[: args.batch]
        for steps in (int(t) for t in args.timesteps.split(",")):
            ours = time_runtime(snn, x, steps, args.repeats, args.device)
            cells = []
            for loop in loops:
                exported = time_exported(snn, x, steps, args.repeats, args.device, loop)
                cells += [f"{exported:.1f}", f"{exported / ours:.2f}"]
            print(f"| {name} | {steps} | {len(x)} | {ours:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
