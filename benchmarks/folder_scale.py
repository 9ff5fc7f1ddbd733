"""Peak memory and throughput of the command line on a large image folder, with one process and with two.

    python benchmarks/folder_scale.py [--images 50000] [--size 224] [--timesteps 4] [--batch-size 64]

Writes --images JPEG files of --size x --size pixels (smooth random colours, ten class folders) into a temporary
folder, deleted afterwards, and an untrained small CNN for such images (conv 3->8 of stride 8, ReLU, conv 8->16 of
stride 2, ReLU, global average pool, linear 16->10) as ONNX. Then it runs, each as a fresh process:

- ``onnx2snn convert`` calibrated on the whole folder (layer-wise calibration on its default samples);
- ``onnx2snn eval`` on the whole folder at --timesteps, with one process and under
  ``torchrun --nproc-per-node 2`` (OMP_NUM_THREADS=1 each, as torchrun sets it; the one process gets 2 threads);

and prints the wall time, images per second and the peak resident memory of the largest process. In float32
the folder's inputs take images x 3 x size^2 x 4 bytes (30 GB for 50,000 images at 224 x 224); the loaders read
one batch at a time, so the peak does not grow with the number of images.
"""

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
MEASURE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def write_folder(folder, images, size, seed=0):
    """``images`` smooth random JPEGs of size x size in ten class folders."""
    rng = np.random.default_rng(seed)
    for i in range(images):
        label = folder / str(i % 10)
        label.mkdir(exist_ok=True)
        coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((size, size), Image.Resampling.BILINEAR).save(label / f"{i}.jpg", quality=85)


def write_model(path, size):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 8, 8, stride=8), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                           nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, 3, size, size),), buffer, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    path.write_bytes(buffer.getvalue())


def measured(argv, env):
    """(wall seconds, peak resident MiB of the largest process) of ``argv`` run in a fresh process."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - start, int(out.stdout.strip().splitlines()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime"),
                                                        os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as name:
        folder, ann, snn = Path(name) / "images", Path(name) / "cnn.onnx", Path(name) / "cnn.snn.onnx"
        folder.mkdir()
        start = time.perf_counter()
        write_folder(folder, args.images, args.size)
        print(f"wrote {args.images} JPEGs of {args.size}x{args.size} in {time.perf_counter() - start:.0f} s; as "
              f"float32 they take {args.images * 3 * args.size**2 * 4 / 2**30:.1f} GiB")
        write_model(ann, args.size)
        batch = ["--batch-size", str(args.batch_size)]
        evaluation = ["eval", str(snn), "--data", str(folder), "--timesteps", str(args.timesteps), "--json", *batch]
        runs = {
            "convert (calibrated on every image)": [sys.executable, "-m", "onnx2snn", "convert", str(ann), "-o",
                                                    str(snn), "--calib", str(folder), *batch],
            "eval, 1 process": [sys.executable, "-m", "onnx2snn", *evaluation],
            "eval, torchrun 2 processes": [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                                           "-m", "onnx2snn", *evaluation],
        }
        print(f"\n{args.images} images, T={args.timesteps}, batch {args.batch_size}, {os.cpu_count()} CPUs")
        print("| command | wall s | images/s | peak memory of the largest process (MiB) |\n|---|---|---|---|")
        for label, argv in runs.items():
            wall, peak = measured(argv, env)
            print(f"| {label} | {wall:.1f} | {args.images / wall:.1f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
