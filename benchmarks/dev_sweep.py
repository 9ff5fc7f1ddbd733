"""Accuracy of the default conversion on a half of the zoo with some defaults changed: how the defaults were chosen.

    python benchmarks/dev_sweep.py --json base.json
    python benchmarks/dev_sweep.py --set "LAYERWISE_TIMESTEPS=(1, 2, 4, 8, 16)" --compare base.json
    python benchmarks/dev_sweep.py --timesteps 4 --set WEIGHT_FIT_RIDGE=0.01
    python benchmarks/dev_sweep.py --option refit_weights=False --compare base.json

Each net of ``--zoo`` (default: the development half) is converted with ``onnx2snn.convert`` on the first 512
training images and run on test images 501 to 1000 (digits: 201 to 400), so that the benchmark's development
tables (the first 300 test images) show those nets on images no choice was made on. The accuracy after T = 1, 2,
4, ..., 64 steps is printed per net beside the ANN's, and with ``--compare`` the change against a saved run and
its mean over the nets.
``--set NAME=VALUE`` replaces a constant of ``onnx2snn.defaults`` (VALUE a Python literal) in that module and
in every onnx2snn module that imported it by name, for this process only; a constant that is the default of a
keyword argument (convert's ``layerwise_samples``, ``tune_samples``, ``tune_timesteps``) is bound when the function
is defined, so change those with ``--option``. ``--option KEY=VALUE`` passes a keyword argument to ``convert``.
``--timesteps`` converts for a latency target (``convert(timesteps=...)``) and runs to its largest T.
"""

import argparse
import ast
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import onnx2snn.defaults  # noqa: E402
from accuracy import ann_accuracy, run_ours  # noqa: E402
from models.zoo import HALVES, ZOO, zoo_names, zoo_path  # noqa: E402
from onnx2snn.data.datasets import load_builtin  # noqa: E402

TIMESTEPS = (1, 2, 4, 8, 16, 32, 64)
CALIBRATION = 512
TEST = {"mnist5k": slice(500, 1000), "digits": slice(200, 400)}


def literal(flag, assignment):
    """(NAME, value) of a NAME=VALUE argument whose VALUE is a Python literal."""
    name, _, text = assignment.partition("=")
    try:
        return name.strip(), ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as error:
        raise SystemExit(f"{flag} {assignment!r}: give NAME=VALUE with VALUE a Python literal ({error})") from None


def set_default(assignment):
    """Apply one NAME=VALUE to onnx2snn.defaults and to the onnx2snn modules that imported NAME from it."""
    name, value = literal("--set", assignment)
    if not hasattr(onnx2snn.defaults, name):
        raise SystemExit(f"--set: onnx2snn.defaults has no {name!r}")
    old = getattr(onnx2snn.defaults, name)
    for module in [m for key, m in sys.modules.items() if key.startswith("onnx2snn") and m is not None]:
        if getattr(module, name, None) is old:
            setattr(module, name, value)


def run(name, timesteps, options):
    """({T: accuracy %}, ANN accuracy %, conversion seconds) of one zoo net on its development test images,
    converted with the keyword arguments ``options``."""
    dataset = ZOO[name].dataset
    calibration = load_builtin(dataset, "train")[0][:CALIBRATION]
    x, y = (part[TEST[dataset]] for part in load_builtin(dataset, "test"))
    target = {"timesteps": timesteps} if timesteps else {}
    (accuracy, _), seconds, _ = run_ours(zoo_path(name), calibration, x, y, TIMESTEPS, {**options, **target})
    ann, _ = ann_accuracy(zoo_path(name), x, y)
    return {t: round(100 * a, 2) for t, a in accuracy.items()}, round(100 * ann, 2), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", choices=(*HALVES, "all"), default="dev", help="which nets (default: dev)")
    parser.add_argument("--models", help="comma-separated zoo nets instead of --zoo")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="replace a constant of onnx2snn.defaults (repeatable)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a keyword argument of convert (repeatable), e.g. refit_weights=False")
    parser.add_argument("--timesteps", type=lambda s: tuple(int(t) for t in s.split(",")),
                        help="convert for these T (comma-separated) instead of the anytime conversion")
    parser.add_argument("--json", help="write the accuracies here")
    parser.add_argument("--compare", help="a saved --json run to print the changes against")
    args = parser.parse_args(argv)
    for assignment in args.set:
        set_default(assignment)
    options = dict(literal("--option", option) for option in args.option)
    before = json.loads(Path(args.compare).read_text())["nets"] if args.compare else {}
    results = {}
    names = args.models.split(",") if args.models else zoo_names(None if args.zoo == "all" else args.zoo)
    unknown = [name for name in names if name not in ZOO]
    if unknown:
        parser.error(f"unknown zoo net(s) {', '.join(unknown)}; choose from {', '.join(ZOO)}")
    for name in names:
        accuracy, ann, seconds = run(name, args.timesteps, options)
        results[name] = {"ann": ann, "accuracy": accuracy, "convert_s": round(seconds, 2)}
        old = before.get(name, {}).get("accuracy", {})
        cells = [f"{a:5.1f}" + (f" ({a - old[str(t)]:+.1f})" if str(t) in old else "") for t, a in accuracy.items()]
        print(f"{name:18s} ANN {ann:5.1f} | " + "  ".join(cells) + f" | {seconds:.1f} s", flush=True)
    shared = [name for name in results if name in before]
    if shared:
        steps = results[shared[0]]["accuracy"]
        print("mean change: " + "  ".join(
            f"T={t} {np.mean([results[n]['accuracy'][t] - before[n]['accuracy'][str(t)] for n in shared]):+.2f}"
            for t in steps if all(str(t) in before[n]["accuracy"] for n in shared)))
    if args.json:
        settings = {"set": args.set, "option": args.option, "timesteps": args.timesteps}
        Path(args.json).write_text(json.dumps({**settings, "nets": results}, indent=1))


if __name__ == "__main__":
    main()
