"""Is the layer that `onnx2snn diagnose` names (the one that adds the most error itself) the layer whose repair
helps accuracy most?

    python benchmarks/diagnose_check.py [--models mnist_cnn_relu,...] [--convert-options "--threshold max"]
                                        [--samples N] [--timesteps 1,2,4,8,16] [--factors 0.8,1.25] [--json PATH]

For every bundled model: convert it with the CLI (calibration on its dataset's training split), diagnose the SNN
on N test images (the pick half), then repair each IF layer in turn by the same rule: scale that layer's
thresholds (and initial potentials with them) by each factor, keep the factor with the best mean accuracy over
the time steps on the pick half (none if no factor beats the unrepaired SNN), and measure the gain in mean
accuracy over the time steps on N other test images (the measure half). The report says whether the named layer
is the one whose repair gains most, and its rank. It also says which layer each candidate rule (RULES) names,
all read from the same diagnosis: a model is a bundled name or a path to an ONNX file (models/zoo/*.onnx).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

from onnx2snn.cli.options import load_for_model
from onnx2snn.load.bundled import bundled_model
from onnx2snn.report.diagnose import diagnose
from onnx2snn.report.diagnose_sites import scaled_threshold
from onnx2snn.report.evaluate import evaluate

DATASETS = {"digits_mlp": "digits", "digits_mlp5": "digits"}  # the others: mnist5k


def _over_t(layers, score):
    """Per layer, the mean over T of score(layer's figures at T, the last layer's figures at T)."""
    return [float(np.mean([score(layer.by_t[t], layers[-1].by_t[t]) for t in layer.by_t])) for layer in layers]


RULES = {
    # the error a layer adds itself (diagnose's rule)
    "own": lambda layers: [layer.mean_own_error() for layer in layers],
    # its own error, times how much the error grows from it to the last IF layer
    "own x growth": lambda layers: _over_t(layers, lambda f, last: f["own_error"] * last["error"] / f["error"]
                                           if f["error"] else 0.0),
    # the rise in error over the IF layer before it
    "rise": lambda layers: [float(np.mean([layer.by_t[t]["error"] - (before.by_t[t]["error"] if before else 0.0)
                                           for t in layer.by_t])) for before, layer in zip([None, *layers], layers)],
}
NO_IMAGE_OPTIONS = {"resize": None, "mean": None, "std": None, "layout": "nchw"}


def mean_accuracy(model, data, timesteps):
    result = evaluate(model, data.x, data.y, timesteps)
    return float(np.mean([result.snn_accuracy[t] for t in timesteps]))


def check(name, convert_options, samples, timesteps, factors, folder):
    path = name if name.endswith(".onnx") else str(bundled_model(name))
    name = Path(path).stem
    dataset = DATASETS.get(name, "mnist5k")
    snn_path = Path(folder) / f"{name}.snn.onnx"
    subprocess.run([sys.executable, "-m", "onnx2snn", "--quiet", "convert", path, "-o", str(snn_path), "--calib",
                    f"{dataset}:train", *convert_options], check=True, capture_output=True)
    snn = onnx.load(snn_path)
    test = load_for_model(f"{dataset}:test", path, "test", None, 0, NO_IMAGE_OPTIONS, labelled=True)
    pick, measure = (test._replace(x=test.x[part], y=test.y[part])
                     for part in (slice(0, samples), slice(samples, 2 * samples)))
    diagnosis = diagnose(snn, path, pick.x, timesteps)
    base_pick, base_measure = mean_accuracy(snn, pick, timesteps), mean_accuracy(snn, measure, timesteps)
    layers = []
    for layer in diagnosis.layers:
        tried = {f: mean_accuracy(scaled_threshold(snn, layer.name, f), pick, timesteps) for f in factors}
        factor = max(tried, key=tried.get)
        repaired = tried[factor] > base_pick
        gain = (mean_accuracy(scaled_threshold(snn, layer.name, factor), measure, timesteps) - base_measure
                if repaired else 0.0)
        layers.append({"name": layer.name, "own_error": layer.mean_own_error(), "verdicts": layer.verdicts,
                       "factor": factor if repaired else None, "gain": gain, "by_t": layer.by_t})
        print(f"  {layer.name:<16} own error {layer.mean_own_error():.3f}  factor "
              f"{factor if repaired else '-':<5} gain {100 * gain:+.2f} points", file=sys.stderr)
    best = max(layers, key=lambda row: row["gain"])
    ranking = sorted(layers, key=lambda row: -row["gain"])
    rank = 1 + next(i for i, row in enumerate(ranking) if row["name"] == diagnosis.worst.name)
    named_by = {rule: diagnosis.layers[int(np.argmax(scores(diagnosis.layers)))].name for rule, scores in RULES.items()}
    return {"model": name, "convert_options": convert_options, "samples": samples, "timesteps": timesteps,
            "accuracy": {"pick": base_pick, "measure": base_measure}, "named": diagnosis.worst.name,
            "best_repair": best["name"] if best["gain"] > 0 else None, "named_rank": rank,
            "named_is_best": best["gain"] > 0 and best["name"] == diagnosis.worst.name, "named_by": named_by,
            "layers": layers}


def print_report(report):
    print(f"{report['model']} (convert {' '.join(report['convert_options']) or 'defaults'}; mean accuracy over "
          f"T={','.join(map(str, report['timesteps']))}: {report['accuracy']['measure']:.2%} on "
          f"{report['samples']} test images)")
    print(f"  {'IF layer':<16} {'own error':>9}  {'factor':>6}  {'gain (points)':>13}")
    for row in report["layers"]:
        mark = "  <- named" if row["name"] == report["named"] else ""
        factor = f"{row['factor']:g}" if row["factor"] else "-"
        print(f"  {row['name']:<16} {row['own_error']:>9.3f}  {factor:>6}  {100 * row['gain']:>+13.2f}{mark}")
    verdict = ("the named layer is the best repair" if report["named_is_best"] else
               f"the named layer ranks {report['named_rank']} of {len(report['layers'])}; best repair: "
               f"{report['best_repair'] or 'none (no repair gained)'}")
    print(f"  {verdict}")
    for rule, named in report["named_by"].items():
        gain = next(row["gain"] for row in report["layers"] if row["name"] == named)
        print(f"  rule {rule!r} names {named} (gain {100 * gain:+.2f})"
              + (", the best repair" if named == report["best_repair"] else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mnist_cnn_relu,mnist_cnn_maxpool,digits_mlp")
    parser.add_argument("--convert-options", default="", help="more options for onnx2snn convert, in one string")
    parser.add_argument("--samples", type=int, default=300, help="test images in each half (pick, measure)")
    parser.add_argument("--timesteps", default="1,2,4,8,16")
    parser.add_argument("--factors", default="0.8,1.25")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    timesteps = [int(t) for t in args.timesteps.split(",")]
    factors = [float(f) for f in args.factors.split(",")]
    reports = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            print(f"{name} ...", file=sys.stderr)
            reports.append(check(name, args.convert_options.split(), args.samples, timesteps, factors, folder))
            print_report(reports[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
