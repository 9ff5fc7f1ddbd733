"""Test accuracy by number of time steps T: onnx2snn against SpikingJelly's ann2snn, on the same trained nets.

    python benchmarks/accuracy.py [--models mnist_cnn_relu,... | --zoo dev|heldout|all|modern]
                                  [--timesteps 1,2,4,8,16,32,64] [--samples N] [--calibration N] [--variants]
                                  [--no-peers] [--json PATH [--resume]] [--markdown] [--from-json PATH]

For every model (the bundled ones in models/onnx/, a half of the zoo in models/zoo/: models/zoo.py says which
net is in which half, or the nets with today's nonlinearities in models/modern/: models/modern.py) it prints one
table: rows are T, columns are the ANN (the ONNX file run by ONNX Runtime on the same test images) and each
conversion:

- onnx2snn:                ``convert(path, calibration)``, the defaults: thresholds 'auto' (a trained clip
                           bound, else the rate-coding-optimal 'mse' statistic per channel), start θ/2 spread by
                           ±0.375 θ over the neurons of statistic layers, then layer-wise calibration
                           (onnx2snn.calibrate.layerwise) for the anytime range T = 1..64;
- onnx2snn --timesteps 4:  the same fitted for the latency target T = 4 (rows past T = 4 are not run: ·);
- onnx2snn --no-layerwise: the defaults without layer-wise calibration;
- onnx2snn --keep-weights: layer-wise calibration without its weight refit (onnx2snn.calibrate.weight_fit);
- onnx2snn θ/2 (Bu 2022):  the paper's method: the same thresholds, every neuron starts at θ/2, nothing else;
- with --variants: tuning on top of the defaults (onnx2snn.calibrate.tune), the classic start v(0) = 0, the 99.9th
  percentile per channel (SpikingJelly's best statistic) and 'auto' per layer;
- SpikingJelly (benchmarks/peers/spikingjelly_ann2snn.py): its best recipe, RateCodingRecipe channel-wise 99.9%
  with half-threshold neurons, and its layer-wise '99.9%' recipe, on the PyTorch definition (models/) loaded
  with the ONNX file's weights; a net it cannot convert says why.

The last row gives each method's conversion time in seconds. Every method calibrates on the same images (the
first --calibration training images, default 1000) and is tested on the same images (the first --samples test
images, default 200; 0 means all: 1000 for MNIST, 400 for digits). Each SNN is simulated once for max(T) steps
with direct (analog) input and its output averaged over steps, so the accuracy after every T comes from one run.
Progress goes to stderr; tables to stdout (text, or Markdown with --markdown); --json writes every number.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # SpikingJelly's calibration progress bars; we report our own

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from models.architectures import DigitsMLP, MnistCNN  # noqa: E402
from models.modern import MODERN, modern_path  # noqa: E402
from models.zoo import HALVES, ZOO, zoo_path  # noqa: E402
from onnx2snn.calibrate.thresholds import ThresholdSpec  # noqa: E402
from onnx2snn.convert import convert  # noqa: E402
from onnx2snn.data.datasets import load_builtin  # noqa: E402
from onnx2snn.errors import UnsupportedModelError  # noqa: E402
from onnx2snn.report.evaluate import ann_correct  # noqa: E402
from onnx2snn.report.paired import compare, describe as describe_pair  # noqa: E402

MODEL_DIR = ROOT / "models" / "onnx"
#: the group of the nets of models/modern.py (SiLU, LeakyReLU, GELU, LayerNorm, attention), beside the zoo's halves
MODERN_GROUP = "modern"
#: name -> (data set, PyTorch definition the ONNX file was exported from or None, ONNX file, zoo half,
#: MODERN_GROUP or None)
MODELS = {
    "mnist_cnn_relu": ("mnist5k", lambda: MnistCNN("relu", "avg"), MODEL_DIR / "mnist_cnn_relu.onnx", None),
    "mnist_cnn_clip": ("mnist5k", lambda: MnistCNN("clip", "avg"), MODEL_DIR / "mnist_cnn_clip.onnx", None),
    "mnist_cnn_maxpool": ("mnist5k", lambda: MnistCNN("relu", "max"), MODEL_DIR / "mnist_cnn_maxpool.onnx", None),
    "digits_mlp": ("digits", DigitsMLP, MODEL_DIR / "digits_mlp.onnx", None),
    **{name: (net.dataset, net.build, zoo_path(name), net.half) for name, net in ZOO.items()},
    **{name: (spec.dataset, spec.build, modern_path(name), MODERN_GROUP) for name, spec in MODERN.items()},
}
OURS = {
    "onnx2snn": dict(),
    "onnx2snn --timesteps 4": dict(timesteps=4),
    "onnx2snn --no-layerwise": dict(layerwise=False),
    "onnx2snn --keep-weights": dict(refit_weights=False),
    "onnx2snn θ/2 (Bu 2022)": dict(spread=0.0, layerwise=False),
}
#: with --variants: tuning on top of the defaults, the classic start v(0) = 0, SpikingJelly's best statistic (the
#: 99.9th percentile per channel; a percentile source ignores trained clip bounds, as SpikingJelly does), and
#: 'auto' per layer
VARIANTS = {
    "onnx2snn tuned": dict(tune=True),
    "onnx2snn v0=0": dict(v_init="zero", layerwise=False),
    "onnx2snn θ/2 ch 99.9%": dict(threshold=ThresholdSpec("percentile", 99.9, per_channel=True)),
    "onnx2snn θ/2 layer": dict(threshold=ThresholdSpec("auto", per_channel=False)),
}
#: SpikingJelly settings compared (benchmarks/peers/spikingjelly_ann2snn.py SETTINGS): its best recipe and its
#: layer-wise 99.9% recipe
PEER_SETTINGS = ("SJ 99.9% ch +½θ", "SJ 99.9%")
#: pairs of methods compared image by image (onnx2snn.report.paired) under each table, where both have numbers
PAIRS = (("onnx2snn", "SJ 99.9% ch +½θ"), ("onnx2snn", "ANN"))
DEFAULT_TIMESTEPS = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_SAMPLES = 200
DEFAULT_CALIBRATION = 1000
BATCH = 100


def describe(options):
    """Our converter's settings in words: the options given, the rest are convert()'s defaults."""
    spec = options.get("threshold")
    return {**options, "threshold": spec.describe()} if isinstance(spec, ThresholdSpec) else dict(options)


def log(message):
    print(message, file=sys.stderr, flush=True)


def ann_accuracy(path, x, y):
    """(top-1 accuracy, indices of the test images it gets wrong) of the ONNX file in ONNX Runtime."""
    right = ann_correct(path, x, y, batch_size=500)
    return float(right.mean()), np.flatnonzero(~right).tolist()


def anytime_accuracy(predictions, y, timesteps):
    """({T: accuracy}, {T: indices of the images it gets wrong}) from predictions (Tmax, N) made after every
    step."""
    right = {t: predictions[t - 1] == y for t in timesteps}
    return ({t: float(r.mean()) for t, r in right.items()},
            {t: np.flatnonzero(~r).tolist() for t, r in right.items()})


def run_ours(path, x_cal, x, y, timesteps, options):
    """Convert with ``options`` and simulate; a conversion with a latency target runs only to its largest T."""
    start = time.perf_counter()
    snn = convert(str(path), calibration=x_cal, **options)
    net = snn.network("cpu")
    converted = time.perf_counter()
    target = options.get("timesteps")
    steps = [t for t in timesteps if t <= max(np.atleast_1d(target))] if target else timesteps
    predictions = np.concatenate(
        [net.run(x[i:i + BATCH], max(steps)).predictions().cpu().numpy() for i in range(0, len(x), BATCH)],
        axis=1)
    return anytime_accuracy(predictions, y, steps), converted - start, time.perf_counter() - converted


def run_peer(peer, module, setting, x_cal, x, y, timesteps):
    start = time.perf_counter()
    snn = peer.convert(module, x_cal, setting, BATCH)
    converted = time.perf_counter()
    predictions = peer.simulate(snn, x, max(timesteps), BATCH)
    return anytime_accuracy(predictions, y, timesteps), converted - start, time.perf_counter() - converted


def evaluate(name, args, peer, previous=None, save=lambda result: None):
    """All numbers for one model: {'ann': acc, 'methods': {label: {...}}, ...}.

    ``previous``: this model's entry of an earlier, interrupted run (--resume); methods it has numbers for
    are not run again. ``save(result)`` is called after every method.
    """
    dataset, build, path, half = MODELS[name]
    if not path.exists():
        return {"error": f"{path.relative_to(ROOT)} does not exist (train it with models/train_mnist.py, "
                         "models/train_zoo.py or models/train_modern.py)"}
    x_cal, _ = load_builtin(dataset, "train")
    x, y = load_builtin(dataset, "test")
    x_cal = x_cal[:args.calibration]
    x, y = x[:args.samples], y[:args.samples]
    ours = {label: options for label, options in {**OURS, **(VARIANTS if args.variants else {})}.items()
            if args.methods is None or label in args.methods}
    labels = list(ours) + (list(PEER_SETTINGS) if peer is not None else [])
    ann, ann_wrong = ann_accuracy(path, x, y)
    result = {"path": str(path.relative_to(ROOT)), "half": half, "dataset": dataset, "test_samples": len(x),
              "calibration_samples": len(x_cal), "ann": ann, "ann_wrong": ann_wrong, "methods": {}}
    same = previous and all(previous.get(k) == result[k] for k in ("test_samples", "calibration_samples", "ann"))
    done = {label: m for label, m in (previous or {}).get("methods", {}).items() if same and "wrong" in m}
    if done:
        log(f"{name}: resuming; {', '.join(done)} already measured")
    result["methods"].update(done)
    log(f"{name}: ANN (ONNX Runtime) {100 * result['ann']:.2f}% on {len(x)} test images, "
        f"calibration on {len(x_cal)} training images")

    jobs = [(label, lambda o=options: run_ours(path, x_cal, x, y, args.timesteps, o)) for label, options in ours.items()]
    if peer is not None and build is None:
        for label in PEER_SETTINGS:
            result["methods"][label] = {"error": "cannot convert: no PyTorch definition (a scikit-learn model)"}
    elif peer is not None:
        module = build()
        try:
            diff, scale = peer.load_onnx_weights(module, path, x_cal[:BATCH])
        except ValueError as exc:  # the definition does not match the file: no peer numbers for this model
            reason = peer.unsupported_reason(module)  # layers it has no IF neuron for (LayerNorm, GELU): say so
            for label in PEER_SETTINGS:
                result["methods"][label] = {"error": f"cannot convert: only nn.ReLU becomes IF neurons ({reason})"
                                            if reason else f"cannot convert: weights: {exc}"}
            log(f"{name}: cannot load the ONNX weights into the PyTorch definition: {exc}")
        else:
            result["torch_vs_onnx"] = {"max_abs_diff": diff, "max_abs_logit": scale}
            log(f"{name}: PyTorch definition reproduces the ONNX output (max |diff| {diff:.2g}, "
                f"max |logit| {scale:.3g})")
            jobs += [(label, lambda s=peer.SETTINGS[label]: run_peer(peer, module, s, x_cal, x, y, args.timesteps))
                     for label in PEER_SETTINGS]

    for label, job in jobs:
        if label in done:
            continue
        try:
            (accuracy, wrong), convert_s, simulate_s = job()
        except Exception as exc:  # noqa: BLE001 - a method that fails is a result, not the end of the run
            cannot = isinstance(exc, UnsupportedModelError) or peer is not None and isinstance(exc, peer.CannotConvert)
            reason = str(exc).split("\n")[0].rstrip(":") if cannot else f"{type(exc).__name__}: {exc}"
            result["methods"][label] = {"error": ("cannot convert: " if cannot else "failed: ") + reason}
            log(f"{name}: {label}: {result['methods'][label]['error']}")
            save(result)
            continue
        result["methods"][label] = {"accuracy": {str(t): a for t, a in accuracy.items()},
                                    "wrong": {str(t): w for t, w in wrong.items()},
                                    "convert_seconds": round(convert_s, 2), "simulate_seconds": round(simulate_s, 2)}
        log(f"{name}: {label}: T={max(accuracy)} {100 * accuracy[max(accuracy)]:.2f}% "
            f"(convert {convert_s:.1f} s, simulate {simulate_s:.1f} s)")
        save(result)
    result["methods"] = {label: result["methods"][label] for label in labels}
    return result


def table_rows(result, timesteps):
    """Header and rows of cells (strings) for one model, plus footnotes for methods without numbers."""
    labels = list(result["methods"])
    header = ["T", "ANN (ORT)"] + labels
    rows, notes = [], []
    for t in timesteps:
        row = [str(t), f"{100 * result['ann']:.2f}"]
        for label in labels:
            method = result["methods"][label]
            if "accuracy" in method:
                row.append(f"{100 * method['accuracy'][str(t)]:.2f}" if str(t) in method["accuracy"] else "·")
            else:
                row.append(method["error"].split(":")[0])
        rows.append(row)
    rows.append(["convert s", ""] + [f"{result['methods'][label]['convert_seconds']:.1f}"
                                     if "convert_seconds" in result["methods"][label] else "" for label in labels])
    for label in labels:
        if "error" in result["methods"][label]:
            notes.append(f"{label}: {result['methods'][label]['error']}")
    return header, rows, notes


def paired_rows(result, timesteps):
    """Header and rows of the image-by-image comparisons of PAIRS at every T (empty when no pair has numbers)."""
    def wrong(label, t):
        if label == "ANN":
            return result.get("ann_wrong")
        return result["methods"].get(label, {}).get("wrong", {}).get(str(t))

    def right(label, t):
        images = np.ones(result["test_samples"], bool)
        images[wrong(label, t)] = False
        return images

    pairs = [(a, b) for a, b in PAIRS if all(wrong(label, timesteps[0]) is not None for label in (a, b))]
    if not pairs:
        return [], []
    header = ["T"] + [f"{a} vs {b}" for a, b in pairs]
    rows = [[str(t)] + [describe_pair(*compare(right(a, t), right(b, t))) for a, b in pairs] for t in timesteps]
    return header, rows


PAIRED_TITLE = ("image by image (McNemar's exact test, onnx2snn.report.paired): +images only the first method "
                "gets right, −images only the second gets right, and p, the chance of so uneven a split by luck")


def title(name, result):
    if "error" in result:
        return f"{name}: {result['error']}"
    half = {None: " (bundled)", MODERN_GROUP: " (models/modern.py)"}.get(result.get("half"),
                                                                       f" ({result.get('half')} half of the zoo)")
    return (f"{name}{half} — test accuracy (%) by time steps T; {result['test_samples']} {result['dataset']} "
            f"test images, {result['calibration_samples']} calibration images")


def text_table(header, rows, rule=True):
    """Lines of a right-aligned text table; with ``rule``, a line of dashes under the header."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths))

    return [line(header)] + [line(["-" * w for w in widths])] * rule + [line(r) for r in rows]


def markdown_table(header, rows):
    """Lines of a markdown table with right-aligned columns."""
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
            + ["| " + " | ".join(r) + " |" for r in rows])


def format_text(name, result, timesteps):
    if "error" in result:
        return title(name, result) + "\n"
    header, rows, notes = table_rows(result, timesteps)
    out = [title(name, result)] + text_table(header, rows) + [f"  * {note}" for note in notes]
    header, rows = paired_rows(result, timesteps)
    if rows:
        out += ["", PAIRED_TITLE] + text_table(header, rows, rule=False)
    return "\n".join(out) + "\n"


def format_markdown(name, result, timesteps):
    if "error" in result:
        return f"**{title(name, result)}**\n"
    header, rows, notes = table_rows(result, timesteps)
    out = [f"**{title(name, result)}**", ""] + markdown_table(header, rows)
    if notes:
        out += [""] + [f"- {note}" for note in notes]
    header, rows = paired_rows(result, timesteps)
    if rows:
        out += ["", PAIRED_TITLE + ":", ""] + markdown_table(header, rows)
    return "\n".join(out) + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(n for n, m in MODELS.items() if m[3] is None),
                        help=f"comma-separated, from {', '.join(MODELS)} (default: the bundled models)")
    parser.add_argument("--zoo", choices=(*HALVES, "all", MODERN_GROUP),
                        help="run the zoo's development half, its held-out half, or all of it (models/zoo.py), or "
                             "the nets with SiLU, LeakyReLU, GELU, LayerNorm and attention (models/modern.py) "
                             "instead of --models")
    parser.add_argument("--timesteps", default=",".join(map(str, DEFAULT_TIMESTEPS)),
                        help="comma-separated T values (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                        help="first N test images, 0 for all (default: %(default)s, which keeps the default run "
                             "near 10 minutes on 2 CPU cores)")
    parser.add_argument("--calibration", type=int, default=DEFAULT_CALIBRATION,
                        help="first N training images for calibration, the same for every method, 0 for all "
                             "(default: %(default)s)")
    parser.add_argument("--variants", action="store_true",
                        help="add onnx2snn θ/2 with 99.9th-percentile thresholds per channel (SpikingJelly's best "
                             "statistic) and with 'auto' thresholds per layer")
    parser.add_argument("--no-peers", action="store_true", help="onnx2snn only, no SpikingJelly")
    parser.add_argument("--methods", help="comma-separated labels of the onnx2snn methods to run (default: all "
                                          f"of {', '.join(OURS)}, and the --variants)")
    parser.add_argument("--json", metavar="PATH", help="write all numbers as JSON")
    parser.add_argument("--resume", action="store_true",
                        help="with --json: keep the methods an interrupted run already wrote to that file "
                             "(same models, images and settings) and run only the rest")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--summary", action="store_true",
                        help="with --from-json: one Markdown table of all models, the files' methods merged (the "
                             "README's zoo tables)")
    parser.add_argument("--from-json", metavar="PATH",
                        help="print the tables of --json files (comma-separated) again, e.g. as --markdown, "
                             "without running anything")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.methods is not None:
        args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in args.methods if m not in {**OURS, **VARIANTS}]
        if unknown:
            parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join({**OURS, **VARIANTS})}")
    if args.zoo:
        args.models = [n for n, m in MODELS.items()
                       if m[3] == args.zoo or args.zoo == "all" and m[3] in HALVES]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    try:
        args.timesteps = sorted({int(t) for t in args.timesteps.split(",")})
    except ValueError:
        parser.error(f"--timesteps must be comma-separated integers, got {args.timesteps!r}")
    if args.timesteps[0] < 1:
        parser.error("time steps must be at least 1")
    for option in ("samples", "calibration"):
        if getattr(args, option) < 0:
            parser.error(f"--{option} must be 0 (all) or positive")
        setattr(args, option, getattr(args, option) or None)
    return args


#: the rows of --summary: (method label, its name in the table)
SUMMARY_ROWS = (("onnx2snn", "onnx2snn"), ("onnx2snn --no-layerwise", "`--no-layerwise`"),
                ("SJ 99.9% ch +½θ", "SpikingJelly best"))
LATENCY_LABEL, LATENCY_T = "onnx2snn --timesteps 4", "4"


def summary_table(models, timesteps):
    """One markdown table of every model: a row per method of SUMMARY_ROWS (accuracy by T, then the latency
    target's accuracy at T=4 and the conversion time); ``models`` name -> result, methods merged from runs."""
    header = (["net", "ANN", "method"] + [f"T={t}" for t in timesteps]
              + [f"T={LATENCY_T} with `--timesteps {LATENCY_T}`", "convert s"])
    rows = []
    for name, result in models.items():
        methods = result["methods"]
        for i, (label, shown) in enumerate(label for label in SUMMARY_ROWS if label[0] in methods):
            method = methods[label]
            first = [name, f"{100 * result['ann']:.1f}"] if i == 0 else ["", ""]
            if "accuracy" not in method:
                rows.append(first + [shown, method["error"].split(" (")[0].split(";")[0]] + [""] * (len(timesteps) + 1))
                continue
            latency = methods.get(LATENCY_LABEL, {}).get("accuracy", {}).get(LATENCY_T) if i == 0 else None
            rows.append(first + [shown] + [f"{100 * method['accuracy'][str(t)]:.1f}" for t in timesteps]
                        + ["" if latency is None else f"{100 * latency:.1f}", f"{method['convert_seconds']:.1f}"])
    return "\n".join(["| " + " | ".join(header) + " |", "|---|---:|---|" + "---:|" * (len(header) - 3)]
                     + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def merged_reports(paths):
    """The models of several --json files, each model's methods merged (a later file adds methods)."""
    reports = [json.loads(Path(path).read_text()) for path in paths.split(",")]
    models = {}
    for report in reports:
        for name, result in report["models"].items():
            if name in models:
                models[name]["methods"].update(result["methods"])
            else:
                models[name] = {**result, "methods": dict(result["methods"])}
    return reports[0]["timesteps"], models


def main(argv=None):
    args = parse_args(argv)
    formatter = format_markdown if args.markdown else format_text
    if args.from_json and args.summary:
        timesteps, models = merged_reports(args.from_json)
        print(summary_table(models, timesteps), end="")
        return
    if args.from_json:
        for path in args.from_json.split(","):
            report = json.loads(Path(path).read_text())
            for name, result in report["models"].items():
                print(formatter(name, result, report["timesteps"]))
        return
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    peer, peer_version = None, None
    if not args.no_peers:
        try:
            from peers import spikingjelly_ann2snn as peer

            peer_version = peer.version()
        except ImportError as exc:
            log(f"SpikingJelly is not installed ({exc}); pip install --no-deps spikingjelly loguru, "
                "or pass --no-peers")
            peer = None
    log(f"torch {torch.__version__}, SpikingJelly {peer_version or 'not used'}, T = {args.timesteps}")
    start = time.perf_counter()
    report = {"timesteps": args.timesteps, "torch": torch.__version__, "spikingjelly": peer_version,
              "onnx2snn_settings": {label: describe(options) for label, options in {**OURS, **VARIANTS}.items()
                                    if label in OURS or args.variants},
              "spikingjelly_settings": {label: peer.SETTINGS[label] for label in PEER_SETTINGS} if peer else None,
              "models": {}}
    earlier = {}
    if args.resume and args.json and Path(args.json).exists():
        old = json.loads(Path(args.json).read_text())
        if old.get("timesteps") == args.timesteps and old.get("spikingjelly_settings") == report["spikingjelly_settings"]:
            earlier = old.get("models", {})
        else:
            log(f"--resume: {args.json} was made with other time steps or settings; starting afresh")

    def save(result=None, name=None):
        if result is not None:
            report["models"][name] = result
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    report["models"].update({n: r for n, r in earlier.items() if n not in args.models})
    for name in args.models:
        result = evaluate(name, args, peer, earlier.get(name), lambda r, n=name: save(r, n))
        save(result, name)
        print(formatter(name, result, args.timesteps), flush=True)
    report["seconds"] = round(time.perf_counter() - start, 1)
    log(f"done in {report['seconds']:.0f} s")
    if args.json:
        save()
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
