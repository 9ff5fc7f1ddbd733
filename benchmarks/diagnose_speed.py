"""How long `onnx2snn diagnose` takes against `onnx2snn eval` on the same SNN and data, and the memory it peaks at.

    python benchmarks/diagnose_speed.py [--model resnet20] [--samples 1000] [--timesteps 1,2,4,8,16,32,64]
                                        [--repeats 1] [--batch-size 32] [--repair-samples 0]

Converts the model (a zoo or bundled name; by default the zoo's resnet20, 20 ReLU layers on MNIST) with the
defaults on its dataset's training split, then runs eval (with the ANN, as `eval --ann` does) and diagnose on the
same test images, each in a fresh process, alternately ``--repeats`` times, and prints the fastest time of each,
their ratio and each process's peak resident memory: the baseline after the imports and the data load (VmRSS),
the whole process's peak while it ran (VmHWM after /proc/self/clear_refs, Linux) and the difference, the run's own
share (the libraries alone hold about 700 MiB). Targets: diagnose within 2x eval's time, and 500 MiB of memory
(met by the run's own share, not by the whole process, which the libraries already put above it).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.zoo import ZOO, zoo_path  # noqa: E402
from onnx2snn.defaults import DIAGNOSE_BATCH_SIZE  # noqa: E402
from onnx2snn.load.bundled import bundled_model  # noqa: E402

NO_IMAGE_OPTIONS = {"resize": None, "mean": None, "std": None, "layout": "nchw"}


def _status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def worker(task, snn, ann, dataset, samples, timesteps, batch_size, repair_samples):
    """One timed run in this process; prints its seconds and peak memory (MiB) as JSON."""
    from onnx2snn.cli.options import load_for_model
    from onnx2snn.report.diagnose import diagnose
    from onnx2snn.report.evaluate import evaluate

    data = load_for_model(f"{dataset}:test", ann, "test", samples, 0, NO_IMAGE_OPTIONS, labelled=True)
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from the current size
    start = time.perf_counter()
    if task == "eval":
        evaluate(snn, data.x, data.y, timesteps, ann)
    else:
        diagnose(snn, ann, data.x, timesteps, batch_size=batch_size, repair_samples=repair_samples)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    print(json.dumps({"seconds": seconds, "baseline_mib": before / 1024, "peak_mib": peak / 1024,
                      "added_mib": (peak - before) / 1024}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet20", help="a zoo name (models/zoo.py) or a bundled one")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--timesteps", default="1,2,4,8,16,32,64")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=DIAGNOSE_BATCH_SIZE,
                        help="diagnose's batch size (default: %(default)s, diagnose's own)")
    parser.add_argument("--repair-samples", type=int, default=0, help="diagnose's --repair-samples")
    parser.add_argument("--worker", nargs=3, metavar=("TASK", "SNN", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    timesteps = [int(t) for t in args.timesteps.split(",")]
    ann = str(zoo_path(args.model) if args.model in ZOO else bundled_model(args.model))
    if args.worker:
        task, snn, dataset = args.worker
        worker(task, snn, ann, dataset, args.samples, timesteps, args.batch_size, args.repair_samples)
        return
    dataset = ZOO[args.model].dataset if args.model in ZOO else "digits" if args.model == "digits_mlp" else "mnist5k"
    runs = {"eval": [], "diagnose": []}
    with tempfile.TemporaryDirectory() as folder:
        snn = str(Path(folder) / "model.snn.onnx")
        subprocess.run([sys.executable, "-m", "onnx2snn", "--quiet", "convert", ann, "-o", snn, "--calib",
                        f"{dataset}:train"], check=True, capture_output=True)
        for _ in range(args.repeats):
            for task in runs:
                out = subprocess.run([sys.executable, __file__, "--model", args.model, "--samples", str(args.samples),
                                      "--timesteps", args.timesteps, "--batch-size", str(args.batch_size),
                                      "--repair-samples", str(args.repair_samples),
                                      "--worker", task, snn, dataset],
                                     check=True, capture_output=True, text=True).stdout
                runs[task].append(json.loads(out.strip().splitlines()[-1]))
                print(f"{task}: {runs[task][-1]}", file=sys.stderr)
    best = {task: min(rows, key=lambda row: row["seconds"]) for task, rows in runs.items()}
    print(f"{args.model}, {args.samples} images, T up to {timesteps[-1]}, diagnose's batch size {args.batch_size}:")
    print(f"  {'':<9} {'time':>9}  {'baseline':>8}  {'peak':>8}  {'own share':>9}   (memory: MiB of resident memory; "
          "baseline after imports and data, peak of the whole process, own share = peak - baseline)")
    for task, row in best.items():
        print(f"  {task:<9} {row['seconds']:7.1f} s  {row['baseline_mib']:8.0f}  {row['peak_mib']:8.0f}  "
              f"{row['added_mib']:9.0f}")
    diagnosis = best["diagnose"]
    print(f"  diagnose / eval time: {diagnosis['seconds'] / best['eval']['seconds']:.2f}x (target <= 2x)")
    print(f"  diagnose's memory: own share {diagnosis['added_mib']:.0f} MiB, whole process {diagnosis['peak_mib']:.0f} "
          f"MiB (target <= 500 MiB)")


if __name__ == "__main__":
    main()
