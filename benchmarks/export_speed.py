"""Speed of the standard-ONNX export in ONNX Runtime against the onnx2snn runtime, side by side.

    python benchmarks/export_speed.py [--models mnist_cnn_relu,...] [--timesteps 8,32] [--batch 128]
                                      [--repeats 3] [--device cpu|cuda|auto] [--time-loop scan,unrolled]

Each bundled model is converted (threshold 'auto', θ/2, calibration on the first 256 training images);
then, for each T, ONNX Runtime runs the exported T-step graph (``export_standard_onnx``) and snnrt runs
``SpikingNetwork.run(x, T)`` on the same first --batch test images. A time is the best of --repeats
interleaved rounds after a warm-up run (speed.interleaved_best); the table gives images per second and the
ratio ORT / snnrt.
"""

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from onnx2snn.convert import convert  # noqa: E402
from onnx2snn.data.datasets import load_builtin  # noqa: E402
from onnx2snn.export.over_time import TIME_LOOPS  # noqa: E402
from onnx2snn.export.standard_onnx import DEFAULT_TIME_LOOP  # noqa: E402
from onnx2snn.load.bundled import bundled_model  # noqa: E402
from snnrt.simulate import SpikingNetwork, pick_device  # noqa: E402
from speed import interleaved_best, ort_run  # noqa: E402

DATASETS = {"mnist_cnn_relu": "mnist5k", "mnist_cnn_clip": "mnist5k", "mnist_cnn_maxpool": "mnist5k",
            "digits_mlp": "digits"}
CALIBRATION = 256


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
    device = pick_device(args.device)
    print("| model | T | batch | snnrt img/s | " + " | ".join(f"ORT {loop} img/s | ratio" for loop in loops) + " |")
    print("|---|---|---|---|" + "---|---|" * len(loops))
    for name in args.models.split(","):
        calibration, _ = load_builtin(DATASETS[name], "train")
        x, _ = load_builtin(DATASETS[name], "test")
        snn = convert(bundled_model(name), calibration[:CALIBRATION]).model
        x = x[: args.batch]
        batch = torch.from_numpy(x).to(device)
        network = SpikingNetwork(snn, device)
        for steps in (int(t) for t in args.timesteps.split(",")):
            runs = {"snnrt": lambda steps=steps: network.run(batch, steps)}
            runs.update({loop: ort_run(snn, x, steps, device, loop) for loop in loops})
            seconds, _ = interleaved_best(runs, args.repeats, device)
            ours = len(x) / seconds["snnrt"]
            cells = []
            for loop in loops:
                exported = len(x) / seconds[loop]
                cells += [f"{exported:.1f}", f"{exported / ours:.2f}"]
            print(f"| {name} | {steps} | {len(x)} | {ours:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
