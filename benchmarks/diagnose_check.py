"""Is the layer that `onnx2snn diagnose` names the layer whose repair helps accuracy most?

    python benchmarks/diagnose_check.py [--models mnist_cnn_relu,narrow_cnn10,...] [--convert-options "--threshold max"]
                                        [--samples N] [--timesteps 1,2,4,8,16] [--factors 0.8,1.25] [--json PATH]

A model is a bundled name (models/onnx), a zoo name (models/zoo.py) or a path to an ONNX file. For each: convert
it with the CLI (calibration on its dataset's training split), diagnose the SNN on the first N test images (the
pick half; N is at most half the test split), then repair each IF layer in turn by the same rule: scale that
layer's thresholds (and initial potentials with them) by each factor, keep the factor with the best mean accuracy
over the time steps on the pick half (none if no factor beats the unrepaired SNN), and measure the gain in mean
accuracy over the time steps on the next N test images (the measure half). A layer is within noise of the best
repair where its gain is less than two standard errors of the paired per-image difference below the best gain.
The report says which layer each rule of RULES names, all read from the pick half: diagnose's named layer (the
best threshold repair on its first inputs), the layer with the most error of its own, and the repair chosen on
the whole pick half by labels (what a rule can at best hope for).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.zoo import ZOO, zoo_path  # noqa: E402
from onnx2snn.cli.options import load_for_model  # noqa: E402
from onnx2snn.load.bundled import bundled_model  # noqa: E402
from onnx2snn.report.diagnose import diagnose  # noqa: E402
from onnx2snn.report.diagnose_sites import scaled_threshold  # noqa: E402
from snnrt.simulate import SpikingNetwork  # noqa: E402


RULES = {
    # diagnose's named layer: the threshold repair that gains most agreement with the ANN on its first inputs
    "repair": lambda diagnosis, ctx: diagnosis.best_repair or diagnosis.worst,
    # the error a layer adds itself, the layer alone on the ANN's input
    "own": lambda diagnosis, ctx: diagnosis.worst,
    # the repair chosen on the whole pick half by labels
    "pick repair": lambda diagnosis, ctx: max(diagnosis.layers, key=lambda layer: ctx[layer.name]),
}
NO_IMAGE_OPTIONS = {"resize": None, "mean": None, "std": None, "layout": "nchw"}
BATCH = 100
REPAIR_SAMPLES = 64  # diagnose --repair-samples


def correct(snn, data, timesteps):
    """Per image, the share of ``timesteps`` at which the SNN predicts its label."""
    network = SpikingNetwork(snn)
    rows = [network.run(data.x[start : start + BATCH], timesteps[-1], keep=timesteps).predictions().cpu().numpy()
            for start in range(0, len(data.x), BATCH)]
    return (np.concatenate(rows, axis=1) == np.asarray(data.y)[None]).mean(0)


def model_source(name):
    """(ONNX path, data set, group) of a bundled or zoo model or an ONNX file."""
    if name in ZOO:
        return str(zoo_path(name)), ZOO[name].dataset, f"zoo {ZOO[name].half}"
    path = name if name.endswith(".onnx") else str(bundled_model(name))
    return path, "digits" if "digits" in Path(path).stem else "mnist5k", "bundled"


def check(name, convert_options, samples, timesteps, factors, folder):
    path, dataset, group = model_source(name)
    name = Path(path).stem
    snn_path = Path(folder) / f"{name}.snn.onnx"
    subprocess.run([sys.executable, "-m", "onnx2snn", "--quiet", "convert", path, "-o", str(snn_path), "--calib",
                    f"{dataset}:train", *convert_options], check=True, capture_output=True)
    snn = onnx.load(snn_path)
    test = load_for_model(f"{dataset}:test", path, "test", None, 0, NO_IMAGE_OPTIONS, labelled=True)
    samples = min(samples, len(test.x) // 2)
    pick, measure = (test._replace(x=test.x[part], y=test.y[part])
                     for part in (slice(0, samples), slice(samples, 2 * samples)))
    diagnosis = diagnose(snn, path, pick.x, timesteps, repair_samples=REPAIR_SAMPLES)
    base_pick, base_measure = (correct(snn, half, timesteps) for half in (pick, measure))
    layers, repaired = [], {}
    for layer in diagnosis.layers:
        tried = {f: correct(scaled_threshold(snn, layer.name, f), pick, timesteps) for f in factors}
        factor = max(tried, key=lambda f: tried[f].mean())
        fixed = tried[factor].mean() > base_pick.mean()
        repaired[layer.name] = (correct(scaled_threshold(snn, layer.name, factor), measure, timesteps) if fixed
                                else base_measure)
        layers.append({"name": layer.name, "own_error": layer.mean_own_error(), "repair": layer.repair,
                       "pick_gain": float(tried[factor].mean() - base_pick.mean()) if fixed else 0.0,
                       "factor": factor if fixed else None,
                       "gain": float(repaired[layer.name].mean() - base_measure.mean()), "by_t": layer.by_t})
        print(f"  {layer.name:<16} factor {factor if fixed else '-':<5} gain {100 * layers[-1]['gain']:+.2f} points",
              file=sys.stderr)
    best = max(layers, key=lambda row: row["gain"])
    for row in layers:
        row["within_noise"] = bool(within_noise(repaired[best["name"]], repaired[row["name"]]))
    pick_gains = {row["name"]: row["pick_gain"] for row in layers}
    named_by = {rule: rule_of(diagnosis, pick_gains).name for rule, rule_of in RULES.items()}
    return {"model": name, "group": group, "convert_options": convert_options, "samples": samples,
            "timesteps": timesteps,
            "accuracy": {"pick": float(base_pick.mean()), "measure": float(base_measure.mean())},
            "best_repair": best["name"] if best["gain"] > 0 else None,
            "best_clear": bool(not within_noise(repaired[best["name"]], base_measure)), "named_by": named_by,
            "layers": layers}


def within_noise(best, other):
    """Whether per-image correctness ``other`` is less than two standard errors of the paired difference below
    ``best``."""
    difference = best - other
    if not difference.any():
        return True
    return difference.mean() < 2 * difference.std(ddof=1) / np.sqrt(len(difference))


def print_report(report):
    print(f"{report['model']} ({report['group']}; convert {' '.join(report['convert_options']) or 'defaults'}; "
          f"mean accuracy over T={','.join(map(str, report['timesteps']))}: {report['accuracy']['measure']:.2%} on "
          f"{report['samples']} test images)")
    width = max(len(row["name"]) for row in report["layers"]) + 2
    print(f"  {'IF layer':<{width}} {'own error':>9}  {'diagnose repair':>15}  {'pick':>6}  {'factor':>6}  "
          f"{'gain (points)':>13}")
    for row in report["layers"]:
        factor = f"{row['factor']:g}" if row["factor"] else "-"
        tried = f"x{row['repair'][0]:g} {row['repair'][1]:+.2f}" if row["repair"][0] else "-"
        below = "" if row["within_noise"] else "  (below best, beyond noise)"
        print(f"  {row['name']:<{width}} {row['own_error']:>9.3f}  {tried:>15}  {100 * row['pick_gain']:>+6.2f}  "
              f"{factor:>6}  {100 * row['gain']:>+13.2f}{below}")
    for rule, named in report["named_by"].items():
        print(f"  rule {rule!r} names {named} (gain {100 * _row(report, named)['gain']:+.2f})")


def _row(report, name):
    return next(row for row in report["layers"] if row["name"] == name)


def print_summary(reports):
    """One Markdown row per case (bold: the best repair or within noise of it), and how often each rule names it."""
    print("\n| model | conversion | accuracy | best repair (gain, points) | "
          + " | ".join(f"`{rule}`" for rule in RULES) + " |")
    print("|---|---|---:|---|" + "---|" * len(RULES))
    for report in reports:
        best = report["best_repair"]
        cells = []
        for named in report["named_by"].values():
            row = _row(report, named)
            cell = f"{named} ({100 * row['gain']:+.2f})"
            cells.append(f"**{cell}**" if best and row["within_noise"] else cell)
        best_cell = (f"{best} ({100 * _row(report, best)['gain']:+.2f}{'' if report['best_clear'] else ', noise'})"
                     if best else "none gains")
        print(f"| {report['model']} ({report['group']}) | {' '.join(report['convert_options']) or 'defaults'} | "
              f"{report['accuracy']['measure']:.1%} | {best_cell} | " + " | ".join(cells) + " |")
    repaired = [report for report in reports if report["best_repair"]]
    clear = [report for report in repaired if report["best_clear"]]
    for rule in RULES:
        hits = sum(report["named_by"][rule] == report["best_repair"] for report in repaired)
        near = sum(_row(report, report["named_by"][rule])["within_noise"] for report in repaired)
        near_clear = sum(_row(report, report["named_by"][rule])["within_noise"] for report in clear)
        print(f"rule {rule!r}: the best repair in {hits} of the {len(repaired)} cases where a repair gains, within "
              f"noise of it in {near}; within noise in {near_clear} of the {len(clear)} whose best gain is beyond "
              "noise")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mnist_cnn_relu,mnist_cnn_maxpool,mnist_cnn_clip,digits_mlp")
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
    print_summary(reports)
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
