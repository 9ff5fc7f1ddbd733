"""Conversion time with and without layer-wise calibration and its weight refit, on the same net and data.

    python benchmarks/conversion_cost.py [--models resnet20,vgg5_wide_s1] [--calibration 512] [--repeats 3]

For each zoo net (models/zoo.py) it times ``onnx2snn.convert`` with ``layerwise=False`` (the untuned
conversion), with ``refit_weights=False`` and with the defaults, interleaved ``--repeats`` times after one
warm-up conversion and with the numba IF kernel loaded (a process loads it once it pays, snnrt.cpu_fused.pays),
and prints the best time of each and its ratio to the untuned one. Run it on an idle machine: the ratios are
what the issue's cost bound is about.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.zoo import ZOO, zoo_path  # noqa: E402
from onnx2snn.convert import convert  # noqa: E402
from onnx2snn.data.datasets import load_builtin  # noqa: E402
from snnrt import cpu_fused  # noqa: E402

SETTINGS = {"--no-layerwise": dict(layerwise=False), "--keep-weights": dict(refit_weights=False), "default": {}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet20", help="comma-separated zoo nets (default: %(default)s)")
    parser.add_argument("--calibration", type=int, default=512, help="first N training images (default: 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed conversions per setting (default: 3)")
    args = parser.parse_args(argv)
    for name in args.models.split(","):
        if name not in ZOO:
            parser.error(f"unknown zoo net {name!r}; choose from {', '.join(ZOO)}")
        x, _ = load_builtin(ZOO[name].dataset, "train")
        x = x[:args.calibration]
        convert(str(zoo_path(name)), calibration=x, layerwise=False)
        if cpu_fused.available():
            cpu_fused.load()  # else the first timed layer-wise round would load it (onnx2snn's CPU IF update)
        best = {label: float("inf") for label in SETTINGS}
        for _ in range(args.repeats):
            for label, options in SETTINGS.items():
                start = time.perf_counter()
                convert(str(zoo_path(name)), calibration=x, **options)
                best[label] = min(best[label], time.perf_counter() - start)
        base = best["--no-layerwise"]
        print(f"{name}: " + ", ".join(f"{label} {seconds:.2f} s ({seconds / base:.1f}x)"
                                      for label, seconds in best.items()), flush=True)


if __name__ == "__main__":
    main()
