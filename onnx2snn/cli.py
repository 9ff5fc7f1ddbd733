"""The onnx2snn command line: convert, eval, inspect, run, demo."""

import json
import sys
from pathlib import Path

import click
import numpy as np

from snnrt.errors import RuntimeInputError

from . import __version__
from .errors import Onnx2SnnError

USER_ERRORS = (Onnx2SnnError, RuntimeInputError)


class Context:
    def __init__(self, debug, quiet):
        self.debug = debug
        self.quiet = quiet

    @property
    def progress(self):
        return not self.quiet and sys.stderr.isatty()


def _fail(ctx, exc, code):
    if ctx.obj.debug:
        raise exc
    click.echo(f"error: {str(exc).strip()}", err=True)
    ctx.exit(code)


class Group(click.Group):
    """Turns user errors into one line and exit code 2; anything else is an internal error (exit 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            _fail(ctx, exc, 2)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001  the CLI's last line of defence
            if ctx.obj is not None and not ctx.obj.debug:
                click.echo(f"internal error: {exc!r} (rerun with --debug for the traceback; please report it)",
                           err=True)
                ctx.exit(1)
            raise


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onnx2snn")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
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


def _timesteps(text):
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as exc:
        raise click.BadParameter(f"expected comma-separated integers such as 1,2,4,8, got {text!r}") from exc
    if not values or values[0] < 1:
        raise click.BadParameter(f"time steps must be positive integers, got {text!r}")
    return values


def _model_input_shape(path):
    from .load import load_model

    model = load_model(path)
    initializers = {t.name for t in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    dims = graph_input.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


def _data(spec, model_path, default_split, limit=None):
    from .data import fit_to_model, load_data

    x, y = load_data(spec, default_split)
    if limit:
        x, y = x[:limit], (None if y is None else y[:limit])
    return fit_to_model(x, _model_input_shape(model_path), spec), y


def _format_threshold(values):
    values = np.asarray(values)
    if values.size == 1:
        return f"{float(values[0]):.4g}"
    return f"{values.size} channels, {values.min():.3g}..{values.max():.3g}"


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Path of the SNN file to write.")
@click.option("--calib", help="Calibration data: mnist5k, digits[:split], FILE.npz or FILE.npy.")
@click.option("--threshold", default="auto", show_default=True,
              help="auto (= clip: trained bound, else mse) | mse | max | percentile | percentile:Q.")
@click.option("--per-channel/--per-layer", default=True, show_default=True,
              help="One threshold per channel, or one per layer.")
@click.option("--init", "v_init", default="half", show_default=True,
              help="Initial membrane potential: half (theta/2, Bu et al.), zero, or a fraction of theta.")
@click.option("--calib-samples", type=click.IntRange(1), help="Use only the first N calibration samples.")
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1))
@click.pass_obj
def convert(obj, model, output, calib, threshold, per_channel, v_init, calib_samples, batch_size):
    """Convert an ANN into an SNN file (written atomically) and print the per-layer summary.

    \b
    Example:
      onnx2snn convert models/onnx/mnist_cnn_relu.onnx -o cnn.snn.onnx --calib mnist5k:train
    """
    from .calibrate import ThresholdSpec
    from .convert import convert as run_convert
    from .save import check_writable

    try:
        spec = ThresholdSpec.parse(threshold, per_channel)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--threshold") from exc
    check_writable(output)
    x = _data(calib, model, "train", calib_samples)[0] if calib else None
    try:
        snn = run_convert(model, x, spec, v_init, batch_size=batch_size, progress=obj.progress, output=output)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--init") from exc
    click.echo(f"{'site':<32} {'replaced':<16} {'threshold source':<28} threshold")
    for layer in snn.layers:
        click.echo(f"{layer.site:<32} {layer.replaced:<16} {layer.source:<28} {_format_threshold(layer.threshold)}")
        if layer.warning:
            click.echo(f"warning: {layer.warning}", err=True)
    if snn.dropped_output:
        click.echo(f"dropped from the spiking output (arg-max unchanged): {', '.join(snn.dropped_output)}")
    click.echo(f"wrote {output} ({len(snn.layers)} IF layers)")


def _print_evaluation(result):
    ann = result.ann_accuracy
    click.echo(f"{'T':>4}  {'SNN acc':>8}  {'ANN acc':>8}  {'SOPs/sample':>12}")
    for t in result.timesteps:
        ann_text = f"{ann:8.4f}" if ann is not None else f"{'-':>8}"
        click.echo(f"{t:>4}  {result.snn_accuracy[t]:8.4f}  {ann_text}  {result.sops[t]:12.4g}")
    click.echo(f"ANN MACs/sample: {result.ann_macs:.4g}; energy at T={result.timesteps[-1]}: "
               f"ANN {result.energy(result.timesteps[-1])[0]:.4g} uJ, SNN {result.energy(result.timesteps[-1])[1]:.4g} uJ "
               "(E_MAC 4.6 pJ, E_AC 0.9 pJ)")
    click.echo("firing rates (spikes per neuron per step):")
    for name, rate in result.firing_rates.items():
        click.echo(f"  {name:<40} {rate:.4f}")


@main.command(name="eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, help="Labelled data: mnist5k, digits[:split] or FILE.npz with x and y.")
@click.option("--timesteps", default="1,2,4,8,16,32,64", show_default=True, help="Comma-separated T values.")
@click.option("--ann", type=click.Path(dir_okay=False), help="The original ANN, to show its accuracy alongside.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG: accuracy vs T and firing rates.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--samples", type=click.IntRange(1), help="Use only the first N samples.")
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1))
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.pass_obj
def eval_command(obj, model, data, timesteps, ann, plot, as_json, samples, batch_size, device):
    """Accuracy of an SNN by time step (one anytime run to the largest T), the ANN's beside it.

    \b
    Example:
      onnx2snn eval cnn.snn.onnx --data mnist5k --ann models/onnx/mnist_cnn_relu.onnx --plot acc.png
    """
    from .evaluate import evaluate

    steps = _timesteps(timesteps)
    if plot:
        from .save import check_writable

        check_writable(plot)
    x, y = _data(data, model, "test", samples)
    result = evaluate(model, x, y, steps, ann, batch_size, device, obj.progress)
    if plot:
        from .plot import plot_evaluation

        plot_evaluation(result, plot, title=Path(model).name)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        _print_evaluation(result)
        if plot:
            click.echo(f"wrote {plot}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.pass_obj
def inspect(obj, model):
    """What an ANN or SNN file holds: inputs, outputs, opset, parameters, and what converts.

    \b
    Example:
      onnx2snn inspect models/onnx/mnist_cnn_relu.onnx
    """
    from .inspect_model import describe

    click.echo(describe(model))


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "data", required=True, help="Inputs: FILE.npy, FILE.npz (x) or a built-in name.")
@click.option("-T", "--timesteps", default=16, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--samples", type=click.IntRange(1), help="Use only the first N inputs.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.pass_obj
def run(obj, model, data, timesteps, as_json, samples, device):
    """Predictions of an SNN after T steps for the given inputs.

    \b
    Example:
      onnx2snn run cnn.snn.onnx --input mnist5k --samples 8 -T 16
    """
    from .load import load_model
    from snnrt.simulate import SpikingNetwork

    x, _ = _data(data, model, "test", samples)
    result = SpikingNetwork(load_model(model), device).run(x, timesteps)
    predictions = result.predictions()[-1].cpu().numpy().tolist()
    if as_json:
        click.echo(json.dumps({"timesteps": timesteps, "predictions": predictions,
                               "firing_rates": result.firing_rates}))
    else:
        for i, p in enumerate(predictions):
            click.echo(f"{i}\t{p}")


@main.command()
@click.option("--timesteps", default="1,2,4,8,16,32", show_default=True, help="Comma-separated T values.")
@click.option("--samples", default=500, show_default=True, type=click.IntRange(1), help="Test images.")
@click.pass_obj
def demo(obj, timesteps, samples):
    """Convert the bundled MNIST CNN with bundled data and print ANN vs SNN accuracy by T."""
    from .bundled import bundled_model
    from .convert import convert as run_convert
    from .datasets import mnist5k
    from .evaluate import evaluate

    path = bundled_model("mnist_cnn_relu")
    x_train, _ = mnist5k("train")
    x_test, y_test = mnist5k("test")
    click.echo(f"converting {path.name} (VGG-style CNN trained on 4000 MNIST images) with 1000 calibration images")
    snn = run_convert(path, x_train[:1000], progress=obj.progress)
    click.echo(f"evaluating on {min(samples, len(x_test))} held-out MNIST images")
    result = evaluate(snn.network(), x_test[:samples], y_test[:samples], _timesteps(timesteps), path,
                      progress=obj.progress)
    _print_evaluation(result)


if __name__ == "__main__":
    main()
