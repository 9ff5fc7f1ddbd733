"""Whole-process times: the onnx2snn command line against the scripts a SpikingJelly or sinabs user runs.

    python benchmarks/process_speed.py [--repeats 3] [--samples 300] [--timesteps 32]

The bundled MNIST CNN (mnist_cnn_relu), SAMPLES test images at T steps, each command a fresh Python process
timed from start to exit (imports, model loading, data, simulation, output):

- onnx2snn run: ``python -m onnx2snn run SNN.onnx --input x.npz -T T --json`` on an SNN converted beforehand;
- onnx2snn eval: ``python -m onnx2snn eval SNN.onnx --data x.npz --timesteps T --json`` (accuracy, SOPs, rates);
- onnx2snn convert: ``python -m onnx2snn convert ANN.onnx -o SNN.onnx --calib calib.npy`` (layer-wise calibration
  included), so that convert + run is the work that the peers' scripts do in one process;
- SpikingJelly: benchmarks/peers/spikingjelly_process.py (imports, conversion calibrated on the same 512 images,
  one batch of SAMPLES images for T steps);
- sinabs: benchmarks/peers/sinabs_process.py (the same with sinabs' IAF layers).

A time is the best wall time of --repeats rounds (each round runs every command once, so that load changes on a
shared machine hit all alike); the CPU time (user + system, of the best round) is printed beside it. A peer that
is not installed is reported so (SpikingJelly: ``pip install --no-deps spikingjelly==2.0.0 loguru``; sinabs:
``pip install --no-deps sinabs==3.1.3 pbr``: its own requirements would replace the nir and nirtorch that
onnx2snn uses).
"""

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from models.architectures import MnistCNN  # noqa: E402
from onnx2snn.convert import convert  # noqa: E402
from onnx2snn.data.datasets import mnist5k  # noqa: E402
from onnx2snn.load.bundled import bundled_model  # noqa: E402

CALIBRATION = 512
PEERS = {"SpikingJelly": ("spikingjelly", "spikingjelly_process.py"), "sinabs": ("sinabs", "sinabs_process.py")}


def prepare(folder, samples):
    """Write the files that the commands read: the ANN's PyTorch weights, calibration and test data, the SNN."""
    from peers.spikingjelly_ann2snn import load_onnx_weights

    x_train, _ = mnist5k("train")
    x_test, y_test = mnist5k("test")
    ann = bundled_model("mnist_cnn_relu")
    module = MnistCNN("relu", "avg")
    load_onnx_weights(module, ann, x_test[:8])
    torch.save(module.state_dict(), folder / "cnn.pt")
    np.save(folder / "calib.npy", x_train[:CALIBRATION])
    np.savez(folder / "x.npz", x=x_test[:samples], y=y_test[:samples])
    convert(ann, x_train[:CALIBRATION], output=folder / "snn.onnx")
    return ann


def commands(folder, ann, timesteps):
    """{label: argv} of the commands timed; a peer that is not installed maps to the reason instead."""
    cli = [sys.executable, "-m", "onnx2snn"]
    found = {
        "onnx2snn run": cli + ["run", str(folder / "snn.onnx"), "--input", str(folder / "x.npz"), "-T",
                               str(timesteps), "--json"],
        "onnx2snn eval": cli + ["eval", str(folder / "snn.onnx"), "--data", str(folder / "x.npz"), "--timesteps",
                                str(timesteps), "--json"],
        "onnx2snn convert": cli + ["convert", str(ann), "-o", str(folder / "converted.onnx"), "--calib",
                                   str(folder / "calib.npy")],
    }
    for label, (package, script) in PEERS.items():
        if importlib.util.find_spec(package) is None:
            found[label] = f"not installed ({package})"
            continue
        found[label] = [sys.executable, str(ROOT / "benchmarks" / "peers" / script), str(folder / "cnn.pt"),
                        str(folder / "calib.npy"), str(folder / "x.npz"), str(timesteps)]
    return found


def timed(argv, env):
    """(wall seconds, CPU seconds of the child) of one run of ``argv``; raises RuntimeError if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{out.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def process_table(repeats=3, samples=300, timesteps=32):
    """Print the table of whole-process times; returns {label: {"wall_s", "cpu_s"}} and the ratios."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime"),
                                                        os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        runs = commands(folder, prepare(folder, samples), timesteps)
        runnable = {label: argv for label, argv in runs.items() if isinstance(argv, list)}
        best = {label: (float("inf"), 0.0) for label in runnable}
        for _ in range(repeats):
            for label, argv in runnable.items():
                best[label] = min(best[label], timed(argv, env))
    print(f"\nwhole processes: bundled MNIST CNN, {samples} test images, T={timesteps}, CPU, "
          f"{torch.get_num_threads()} threads (best of {repeats})")
    print("| command | wall s | CPU s |\n|---|---|---|")
    for label, argv in runs.items():
        if label in best:
            print(f"| {label} | {best[label][0]:.2f} | {best[label][1]:.2f} |")
        else:
            print(f"| {label} | {argv} | |")
    figures = {label: {"wall_s": wall, "cpu_s": cpu} for label, (wall, cpu) in best.items()}
    ratios = {}
    for peer in PEERS:
        if peer in best:
            for ours in ("onnx2snn run", "onnx2snn eval"):
                ratios[f"{ours} / {peer}"] = best[ours][0] / best[peer][0]
            ratios[f"onnx2snn convert + run / {peer}"] = (best["onnx2snn convert"][0]
                                                          + best["onnx2snn run"][0]) / best[peer][0]
    for label, ratio in ratios.items():
        print(f"{label}: {ratio:.2f}x (wall)")
    return {"processes": figures, "ratios": ratios}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures = process_table(args.repeats, args.samples, args.timesteps)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
