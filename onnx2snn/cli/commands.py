"""The onnx2snn command line: convert, eval, diagnose, inspect, run, export, demo."""

import json
import os
import sys
import warnings
from pathlib import Path

import click
import numpy as np
from snnrt.errors import RuntimeInputError

from .. import __version__, defaults
from ..distributed import init_from_environment, is_main
from ..errors import Onnx2SnnError
from ..recipes import NAMES as RECIPE_NAMES
from ..report.paired import describe as describe_pair
from .options import (
    FiniteFloatRange,
    batch_options,
    check_encoding,
    image_options,
    load_for_model,
    parse_timesteps,
    simulation_options,
    timesteps_option,
)

USER_ERRORS = (Onnx2SnnError, RuntimeInputError)
DATA_FORMS = "mnist5k, digits[:train|test|all], FILE.npz (x, y), FILE.npy, an image folder or a CIFAR folder[:split]"


class Context:
    def __init__(self, debug, quiet):
        self.debug = debug
        self.quiet = quiet

    @property
    def progress(self):
        """Progress bars only for a person at a terminal."""
        return not self.quiet and sys.stdout.isatty() and sys.stderr.isatty()


def _fail(ctx, message, exc, code):
    if ctx.obj is not None and ctx.obj.debug:
        raise exc
    click.echo(message, err=True)
    ctx.exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """onnx2snn's own warnings as one 'warning: ...' line; other libraries' in Python's usual form."""
    if category.__module__.startswith("onnx2snn"):
        click.echo(f"warning: {message}", err=True)
    else:
        _PYTHON_SHOW_WARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOW_WARNING = warnings.showwarning


class Group(click.Group):
    """User errors and bad options: one line and exit code 2; anything else: internal error, exit 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            _fail(ctx, f"error: {str(exc).strip()}", exc, 2)
        except click.UsageError as exc:
            where = (exc.ctx or ctx).command_path
            _fail(ctx, f"error: {exc.format_message()} (see '{where} --help')", exc, 2)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001  the CLI's last line of defence
            _fail(ctx, f"internal error: {exc!r} (rerun with --debug for the traceback; please report it)", exc, 1)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onnx2snn")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars (they only show at a terminal anyway).")
@click.pass_context
def main(ctx, debug, quiet):
    """Convert a trained ANN in ONNX into a spiking neural network and measure it.

    \b
    Example:
      onnx2snn demo
      onnx2snn convert model.onnx -o model.snn.onnx --calib mnist5k:train
      onnx2snn eval model.snn.onnx --data mnist5k --ann model.onnx
    """
    ctx.obj = Context(debug, quiet)
    warnings.showwarning = _show_warning
    if init_from_environment() and not is_main():  # torchrun with several processes: rank 0 prints
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  for the life of the process


def _format_threshold(values):
    values = np.asarray(values)
    if values.size == 1:
        return f"{float(values[0]):.4g}"
    return f"{values.size} channels, {values.min():.3g}..{values.max():.3g}"


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Path of the SNN file to write.")
@click.option("--calib", help=f"Calibration data (default split: train): {DATA_FORMS}.")
@click.option("--recipe", "recipe_name", type=click.Choice(RECIPE_NAMES), default="default", show_default=True,
              help="The conversion method (docs/conversion.md, Recipes): default (onnx2snn's), bu2022 (the paper: "
                   "layer threshold, theta/2, nothing else), classic (v(0) = 0, max thresholds), qcfs (trained "
                   "bounds). The options below override its fields.")
@click.option("--threshold",
              help="auto (= clip: trained bound, else mse) | mse | max | percentile | percentile:Q "
                   "[default: the recipe's; auto].")
@click.option("--per-channel/--per-layer", default=None,
              help="One threshold per channel, or one per layer [default: the recipe's; per channel].")
@click.option("--init", "v_init",
              help="Initial membrane potential: half (theta/2, Bu et al.), zero, or a fraction of theta "
                   "[default: the recipe's; half].")
@click.option("--spread", type=FiniteFloatRange(0.0, 1.0),
              help="Spread the membrane potentials over each layer's neurons after the first step by this "
                   "fraction of theta "
                   f"[default: {defaults.SPREAD} with --init half, else 0; --tune then picks it per layer].")
@click.option("--calib-samples", type=click.IntRange(1), help="Use N calibration samples drawn with --seed.")
@click.option("--tune", is_flag=True,
              help="Then scale each layer's calibrated thresholds, pick the spread of each layer that has "
                   "one unless --spread is given, and calibrate each layer's initial potentials per channel "
                   "(from --init), so that the SNN follows the ANN on calibration data "
                   f"(simulates the SNN {len(defaults.TUNE_SCALES) + 1} times per layer and "
                   f"{len(defaults.TUNE_SPREADS) - 1} more per layer with a spread, on CUDA when torch sees it; "
                   "see onnx2snn.calibrate.tune).")
@click.option("--tune-timesteps", callback=parse_timesteps,
              help="With --tune: the time steps T whose outputs should follow the ANN, each weighted by "
                   f"T^{defaults.TUNE_WEIGHT_POWER:g} [default: {','.join(map(str, defaults.TUNE_TIMESTEPS))}].")
@click.option("--tune-samples", type=click.IntRange(1),
              help=f"With --tune: calibration samples simulated, evenly spaced over --calib [default: "
                   f"{defaults.TUNE_SAMPLES}].")
@click.option("--timesteps", callback=parse_timesteps,
              help="Latency target: the time steps T the SNN will run for (e.g. 4 or 4,8); thresholds, starts, "
                   "layer-wise calibration and --tune are fitted for them [default: anytime, for T="
                   f"{defaults.ANYTIME_TIMESTEPS[0]}..{defaults.ANYTIME_TIMESTEPS[-1]}].")
@click.option("--layerwise/--no-layerwise", default=None,
              help="Finally fit each IF layer's thresholds, starts and input bias per channel to the spike trains "
                   "it receives from the converted layers before it (one SNN run on calibration data; see "
                   "onnx2snn.calibrate.layerwise) [default: the recipe's; on in the default recipe].")
@click.option("--refit-weights/--keep-weights", default=None,
              help="With --layerwise: also refit the weights of the Conv and Gemm layers that receive spikes to the "
                   "rates they receive (onnx2snn.calibrate.weight_fit) [default: the recipe's; on in the default "
                   "recipe].")
@click.option("--layerwise-samples", type=click.IntRange(1), default=defaults.LAYERWISE_SAMPLES, show_default=True,
              help="With --layerwise: calibration samples the SNN runs on, evenly spaced over --calib.")
@click.option("--spiking-only", is_flag=True,
              help="Refuse a model whose nonlinearities need compensation units (which do not spike), listing "
                   "the nodes, instead of converting them so.")
@batch_options
@image_options
@click.pass_obj
def convert(obj, model, output, calib, recipe_name, threshold, per_channel, v_init, spread, calib_samples, tune,
            tune_timesteps, tune_samples, timesteps, layerwise, refit_weights, layerwise_samples, spiking_only,
            batch_size, seed, **image):
    """Convert an ANN into an SNN file (written atomically) and print the per-layer summary.

    Calibration runs the ANN in ONNX Runtime on the CPU.

    \b
    Example:
      onnx2snn convert models/onnx/mnist_cnn_relu.onnx -o cnn.snn.onnx --calib mnist5k:train
      onnx2snn convert vgg.onnx -o vgg.snn.onnx --calib cifar-10-batches-py:train --calib-samples 2000
      onnx2snn convert model.onnx -o paper.snn.onnx --calib calib.npz --recipe bu2022
    """
    from ..calibrate.thresholds import ThresholdSpec
    from ..convert import convert as run_convert
    from ..report.inspect_model import start_text
    from ..paths import check_outputs
    from ..recipes import get_recipe, parse_v_init

    if threshold is not None:
        try:
            ThresholdSpec.parse(threshold)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--threshold") from exc
    if v_init is not None:
        try:
            parse_v_init(v_init)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--init") from exc
    given = {"threshold": threshold, "per_channel": per_channel, "v_init": v_init, "spread": spread,
             "layerwise": layerwise, "refit_weights": refit_weights, "timesteps": timesteps, "tune": tune or None}
    try:
        recipe = get_recipe(recipe_name).with_overrides(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    for value, name in ((tune_timesteps, "--tune-timesteps"), (tune_samples, "--tune-samples")):
        if value is not None and not recipe.tune:
            raise click.UsageError(f"{name} applies only with --tune")
    check_outputs({"-o": output}, {"model": model, "--calib": calib})
    x = load_for_model(calib, model, "train", calib_samples, seed, image).x if calib else None
    snn = run_convert(model, x, recipe, batch_size=batch_size, progress=obj.progress, output=output,
                      tune_timesteps=tune_timesteps or defaults.TUNE_TIMESTEPS,
                      tune_samples=tune_samples or defaults.TUNE_SAMPLES, layerwise_samples=layerwise_samples,
                      spiking_only=spiking_only)
    click.echo(f"{'site':<32} {'kind':<9} {'replaced':<16} {'threshold source':<34} {'spread':<6} {'start':<10} "
               "threshold")
    for layer in snn.layers + snn.signed:
        click.echo(f"{layer.site:<32} {layer.kind:<9} {layer.replaced:<16} {layer.source:<34} {layer.spread:<6g} "
                   f"{start_text(layer.start):<10} {_format_threshold(layer.threshold)}")
        if layer.warning and is_main():  # stderr stays open on every rank, for errors
            click.echo(f"warning: {layer.warning}", err=True)
    if snn.dropped_output:
        click.echo(f"dropped from the spiking output (arg-max unchanged): {', '.join(snn.dropped_output)}")
    if recipe.tune:
        click.echo(f"tuning: {snn.tuning}")
    click.echo(f"recipe: {recipe.name}")
    for unit in snn.compensated:
        click.echo(f"compensation unit (not spiking): {unit.name}: {unit.computes}")
    click.echo(f"fitted for: {snn.fitted_for}")
    click.echo(f"layer-wise: {snn.layerwise}")
    click.echo(f"wrote {output} ({len(snn.layers)} IF layers, {len(snn.signed)} signed IF layers, "
               f"{len(snn.compensated)} compensation units)")


def _print_evaluation(result):
    ann = result.ann_accuracy
    versus = result.versus_ann
    click.echo(f"{'T':>4}  {'SNN acc':>8}  {'ANN acc':>8}  {'SOPs/sample':>12}" + "  SNN vs ANN" * bool(versus))
    for t in result.timesteps:
        ann_text = f"{ann:8.4f}" if ann is not None else f"{'-':>8}"
        versus_text = f"  {describe_pair(*versus[t])}" if versus else ""
        click.echo(f"{t:>4}  {result.snn_accuracy[t]:8.4f}  {ann_text}  {result.sops[t]:12.4g}{versus_text}")
    if versus:
        click.echo("SNN vs ANN: +samples only the SNN gets right, −only the ANN; p: McNemar's exact test "
                   "(small: not luck)")
    t_max = result.timesteps[-1]
    ann_uj, snn_uj = result.energy(t_max)
    click.echo(f"ANN MACs/sample: {result.ann_macs:.4g}; energy at T={t_max}: ANN {ann_uj:.4g} uJ, "
               f"SNN {snn_uj:.4g} uJ (E_MAC 4.6 pJ, E_AC 0.9 pJ; a non-spiking operation costs a MAC)")
    click.echo(f"non-spiking operations at T={t_max}: {result.nonspiking_ops(t_max):.4g}/sample, "
               f"{result.nonspiking_share(t_max):.2%} of all (MACs that stay MACs, compensation units); "
               f"{result.ann_macs_share_as_sops:.2%} of the ANN's MACs became SOPs")
    click.echo("firing rates (spikes per neuron per step):")
    for name, rate in result.firing_rates.items():
        click.echo(f"  {name:<40} {rate:.4f}")


@main.command(name="eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, help=f"Labelled data (default split: test): {DATA_FORMS}.")
@timesteps_option("1,2,4,8,16,32,64")
@click.option("--ann", type=click.Path(dir_okay=False),
              help="The original ANN: its accuracy alongside, and both compared sample by sample (McNemar's test).")
@click.option("--budget", type=click.FloatRange(0), metavar="POINTS",
              help="With --ann: the smallest T whose accuracy is within POINTS percentage points of the ANN's, "
                   "whether it holds at the larger T, and SOPs and energy there [default: 1].")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG: accuracy vs T and firing rates.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--samples", type=click.IntRange(1), help="Use N samples drawn with --seed.")
@batch_options
@simulation_options
@image_options
@click.pass_obj
def eval_command(obj, model, data, timesteps, ann, budget, plot, as_json, samples, batch_size, seed, device, order,
                 encoding, **image):
    """Accuracy of an SNN by time step (one anytime run to the largest T), the ANN's beside it.

    \b
    Example:
      onnx2snn eval cnn.snn.onnx --data mnist5k --ann models/onnx/mnist_cnn_relu.onnx --plot acc.png
      onnx2snn eval vgg.snn.onnx --data cifar-10-batches-py --samples 1000 --json
    """
    from ..report.budget import DEFAULT_POINTS, smallest_t
    from ..report.evaluate import evaluate
    from ..paths import check_outputs

    if budget is not None and ann is None:
        raise click.UsageError("--budget compares with the ANN: give --ann as well")
    check_outputs({"--plot": plot}, {"model": model, "--ann": ann, "--data": data})
    dataset = load_for_model(data, model, "test", samples, seed, image, labelled=True)
    x = check_encoding(encoding, dataset.x)
    result = evaluate(model, x, dataset.y, timesteps, ann, batch_size, device, obj.progress, encoding, seed, order)
    if plot and is_main():
        from ..report.plot import plot_evaluation

        plot_evaluation(result, plot, title=Path(model).name)
    smallest = smallest_t(result, DEFAULT_POINTS if budget is None else budget) if ann else None
    if as_json:
        click.echo(json.dumps({**result.as_dict(), **({"smallest_t": smallest.as_dict()} if smallest else {})}))
    else:
        _print_evaluation(result)
        if smallest:
            click.echo(smallest.describe(result.timesteps[-1]))
        if plot:
            click.echo(f"wrote {plot}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--ann", required=True, type=click.Path(dir_okay=False), help="The ANN the SNN was converted from.")
@click.option("--data", required=True, help=f"Inputs (default split: test; labels not needed): {DATA_FORMS}.")
@timesteps_option("1,2,4,8,16,32,64")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG heatmap: error by IF layer and T.")
@click.option("--samples", type=click.IntRange(1), help="Use N samples drawn with --seed.")
@click.option("--repair-samples", type=click.IntRange(0), default=0, show_default=True,
              help="Try each layer's threshold repair on the first N samples and name the layer to repair first "
                   "(each reruns the SNN from its layer on; 0: no trials).")
@batch_options(batch_size=defaults.DIAGNOSE_BATCH_SIZE)
@simulation_options
@image_options
@click.pass_obj
def diagnose(obj, model, ann, data, timesteps, as_json, plot, samples, repair_samples, batch_size, seed, device, order,
             encoding, **image):
    """Where a conversion loses accuracy: every IF layer's rate code against the ANN's activation, by T.

    Per layer and T: the relative error, and the layer's own error (the IF layer alone driven by the ANN's
    input), cosine, bias, firing rate, silent neurons, clipped activations; one line per thing found wrong. With
    --repair-samples N also the layer to repair first: the one whose thresholds times 0.8 or 1.25 gain most
    agreement with the ANN's predictions (mean over the asked T up to 16, on the first N inputs).

    \b
    Example:
      onnx2snn diagnose cnn.snn.onnx --ann models/onnx/mnist_cnn_relu.onnx --data mnist5k --plot error.png
    """
    from ..report.diagnose import diagnose as run_diagnose
    from ..report.diagnose_report import describe

    if encoding != "direct":
        raise click.UsageError("diagnose drives the layers by the ANN's values: it takes --encoding direct only")
    from ..paths import check_outputs

    check_outputs({"--plot": plot}, {"model": model, "--ann": ann, "--data": data})
    dataset = load_for_model(data, model, "test", samples, seed, image)
    result = run_diagnose(model, ann, dataset.x, timesteps, batch_size, device, order, obj.progress, repair_samples)
    if plot and is_main():
        from ..report.diagnose_plot import plot_diagnosis

        plot_diagnosis(result, plot, title=Path(model).name)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        click.echo(describe(result))
        if plot:
            click.echo(f"wrote {plot}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
def inspect(model):
    """What an ANN or SNN file holds: inputs, outputs, opset, parameters, MACs, and what converts.

    \b
    Example:
      onnx2snn inspect models/onnx/mnist_cnn_relu.onnx
    """
    from ..report.inspect_model import describe

    click.echo(describe(model))


def _simulate(model, x, timesteps, batch_size, device, order, encoding, seed, progress):
    """Predictions after T steps, firing rates (mean over samples) and spike counts (summed), in batches."""
    from snnrt.simulate import SpikingNetwork
    from tqdm.auto import tqdm

    from ..load.model import load_model

    network = SpikingNetwork(load_model(model), device, order)
    predictions, rates, counts = [], {}, {}
    starts = range(0, len(x), batch_size)
    for i, start in enumerate(tqdm(starts, desc="running", unit="batch", disable=not progress, leave=False)):
        xb = x[start : start + batch_size]
        result = network.run(xb, timesteps, encoding=encoding, seed=seed + i, keep=[timesteps])
        predictions += result.predictions()[-1].cpu().numpy().tolist()
        for name, rate in result.firing_rates.items():
            rates[name] = rates.get(name, 0.0) + rate * len(xb) / len(x)
        for name, count in result.spike_counts.items():
            counts[name] = counts.get(name, 0) + int(count or 0)
    return predictions, rates, counts


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "data", required=True, help=f"Inputs (default split: test): {DATA_FORMS}.")
@click.option("-T", "--timesteps", default=16, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--stats", is_flag=True, help="Also print firing rates and spike counts per IF layer.")
@click.option("--samples", type=click.IntRange(1), help="Use N inputs drawn with --seed.")
@batch_options
@simulation_options
@image_options
@click.pass_obj
def run(obj, model, data, timesteps, as_json, stats, samples, batch_size, seed, device, order, encoding, **image):
    """Predictions of an SNN after T steps for the given inputs (labels shown when the data have them).

    \b
    Example:
      onnx2snn run cnn.snn.onnx --input mnist5k --samples 8 -T 16
      onnx2snn run cnn.snn.onnx --input my_images/ --resize 28,28 --json --stats
    """
    dataset = load_for_model(data, model, "test", samples, seed, image)
    x = check_encoding(encoding, dataset.x)
    predictions, rates, counts = _simulate(model, x, timesteps, batch_size, device, order, encoding, seed,
                                           obj.progress)
    labels = None if dataset.y is None else dataset.y.tolist()
    samples = dataset.names or dataset.index.tolist()
    if as_json:
        report = {"timesteps": timesteps, "inputs": samples, "predictions": predictions, "labels": labels}
        if stats:
            report.update(firing_rates=rates, spike_counts=counts)
        click.echo(json.dumps(report))
        return
    click.echo("sample\tprediction" + ("\tlabel" if labels is not None else ""))
    for i, sample in enumerate(samples):
        click.echo(f"{sample}\t{predictions[i]}" + (f"\t{labels[i]}" if labels is not None else ""))
    if labels is not None:
        correct = sum(p == t for p, t in zip(predictions, labels))
        click.echo(f"accuracy at T={timesteps}: {correct / len(labels):.4f} ({correct}/{len(labels)})")
    if stats:
        click.echo("spiking layer\tfiring rate\tspikes")
        for name, rate in rates.items():
            click.echo(f"{name}\t{rate:.4f}\t{counts.get(name, 0)}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(["onnx", "nir"]),
              help="onnx: standard ONNX of the T-step simulation (no custom op); nir: a NIR graph.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Path of the file to write.")
@click.option("-T", "--timesteps", type=click.IntRange(1), help="Steps in the exported graph (onnx; default 16).")
@click.option("--per-step", is_flag=True, help="onnx: output the anytime prediction of every step, (T, N, C).")
def export(model, fmt, output, timesteps, per_step):
    """Export an SNN file for other tools: standard ONNX that any ONNX Runtime runs, or NIR.

    \b
    Example:
      onnx2snn export cnn.snn.onnx --format onnx -T 16 -o cnn_t16.onnx
      onnx2snn export cnn.snn.onnx --format nir -o cnn.nir
    """
    from ..export import export_model
    from ..paths import check_outputs

    check_outputs({"-o": output}, {"model": model})
    if fmt == "nir" and (timesteps is not None or per_step):
        raise click.UsageError("-T and --per-step shape the standard-ONNX export; a NIR graph has no fixed T")
    steps = 16 if timesteps is None else timesteps
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_model(model, fmt, output, steps, per_step)
    for warning in caught:  # the exporters' own warnings (what a format cannot carry), not libraries' notices
        if warning.category.__module__.startswith("onnx2snn"):
            click.echo(f"warning: {warning.message}", err=True)
    click.echo(f"wrote {output}" + (f" (standard ONNX, T={steps})" if fmt == "onnx" else " (NIR)"))


@main.command()
@timesteps_option("1,2,4,8,16,32")
@click.option("--samples", default=500, show_default=True, type=click.IntRange(1),
              help="Held-out MNIST test images (of 1000), drawn with --seed.")
@click.option("--calib-samples", default=1000, show_default=True, type=click.IntRange(1),
              help="Calibration images (of 4000 training images), drawn with --seed.")
@batch_options
@simulation_options
@click.pass_obj
def demo(obj, timesteps, samples, calib_samples, batch_size, seed, device, order, encoding):
    """Convert the bundled MNIST CNN with bundled data and print ANN vs SNN accuracy by T.

    \b
    Example:
      onnx2snn demo
      onnx2snn demo --timesteps 1,4,16 --samples 200
    """
    from ..report.budget import smallest_t
    from ..load.bundled import bundled_model
    from ..convert import convert as run_convert
    from ..data.sources import load_data
    from ..report.evaluate import evaluate

    path = bundled_model("mnist_cnn_relu")
    x_train = load_data("mnist5k:train", samples=calib_samples, seed=seed).x
    test = load_data("mnist5k:test", samples=samples, seed=seed)
    click.echo(f"converting {path.name} (VGG-style CNN trained on 4000 MNIST images) with {len(x_train)} "
               "calibration images")
    snn = run_convert(path, x_train, batch_size=batch_size, progress=obj.progress)
    click.echo(f"evaluating on {len(test.x)} held-out MNIST images")
    result = evaluate(snn.network(device, order), test.x, test.y, timesteps, path, batch_size, device, obj.progress,
                      encoding, seed)
    _print_evaluation(result)
    click.echo(smallest_t(result).sentence(result.timesteps[-1]))


if __name__ == "__main__":
    main()
