"""Options shared by the onnx2snn commands, their parsing, and reading data the way a model takes it."""

import functools
import math

import click
import numpy as np

from ..data.images import LAYOUTS, Preprocess
from ..data.lazy_inputs import LazyInputs

MAX_SEED = 2**32 - 1


def parse_timesteps(ctx, param, text):
    if text is None:
        return None
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as exc:
        raise click.BadParameter(f"expected comma-separated integers such as 1,2,4,8, got {text!r}") from exc
    if not values or values[0] < 1:
        raise click.BadParameter(f"time steps must be positive integers, got {text!r}")
    return values


class FiniteFloatRange(click.FloatRange):
    """A click.FloatRange that also refuses nan and inf (which compare false with both bounds)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _floats(ctx, param, text):
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = (math.nan,)
    if not all(math.isfinite(v) for v in values):
        raise click.BadParameter(f"expected comma-separated finite numbers such as 0.485,0.456,0.406, got {text!r}")
    return values


def _resize(ctx, param, text):
    if text is None:
        return None
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise click.BadParameter(f"expected H,W or one size such as 32, got {text!r}")
    return (sizes[0], sizes[-1])


def _device(ctx, param, value):
    if value == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter("torch sees no CUDA device on this machine; use --device cpu or auto")
    return value


def timesteps_option(default):
    return click.option("--timesteps", default=default, show_default=True, callback=parse_timesteps,
                        help="Comma-separated time steps T; one run to the largest gives them all.")


def image_options(f):
    """--resize, --mean, --std, --layout: how image folders and CIFAR folders become model input."""
    options = [
        click.option("--resize", callback=_resize, help="Image data: resize every image to H,W (or one size)."),
        click.option("--mean", callback=_floats, help="Image data: subtract per channel after scaling to [0, 1], e.g. 0.49,0.48,0.45."),
        click.option("--std", callback=_floats, help="Image data: then divide per channel, e.g. 0.25 or 0.25,0.24,0.26."),
        click.option("--layout", type=click.Choice(LAYOUTS), default="nchw", show_default=True,
                     help="Image data: axis order the model takes."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def batch_options(f=None, *, batch_size=128):
    """--batch-size (default ``batch_size``) and --seed (sample draws, Poisson spikes); as @batch_options or
    @batch_options(batch_size=N)."""
    if f is None:
        return functools.partial(batch_options, batch_size=batch_size)
    f = click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED),
                     help="Seed for drawing --samples and for Poisson input spikes.")(f)
    return click.option("--batch-size", default=batch_size, show_default=True, type=click.IntRange(1),
                        help="Samples per batch (memory vs speed).")(f)


def simulation_options(f):
    """--device, --order and --encoding for commands that run the SNN."""
    f = click.option("--order", type=click.Choice(["auto", "step", "layer"]), default="auto", show_default=True,
                     help="Runtime order: step (whole graph per step, least memory) or layer (time folded "
                          "into the batch, faster); auto: layer where the graph allows it.")(f)
    f = click.option("--encoding", type=click.Choice(["direct", "poisson"]), default="direct", show_default=True,
                     help="Input as an analog current every step, or as Poisson spikes (inputs in [0, 1]).")(f)
    return click.option("--device", default="auto", show_default=True, callback=_device,
                        type=click.Choice(["auto", "cpu", "cuda"]), help="auto: CUDA when torch sees it.")(f)


def model_io(path):
    """(input shape with dim names for free dims, number of classes or None) of an ONNX file. An integer input
    is not refused here: convert names the nodes that read it."""
    from ..load.model import load_model

    model = load_model(path, float_input=False)
    initializers = {t.name for t in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    classes = None
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if output.type.tensor_type.elem_type == 1 and len(dims) >= 2 and dims[-1].dim_value > 0:
            classes = dims[-1].dim_value
            break
    return shape, classes


def load_for_model(spec, model_path, default_split, samples, seed, image, labelled=False):
    """Dataset read from ``spec`` and shaped for the model's input; labels checked against its outputs."""
    from ..data.sources import check_labels, fit_to_model, load_data

    shape, classes = model_io(model_path)
    channels = None
    if len(shape) == 4:
        channel_dim = shape[1] if image["layout"] == "nchw" else shape[3]
        channels = channel_dim if channel_dim in (1, 3) else None
    data = load_data(spec, default_split, Preprocess(channels=channels, **image), samples, seed)
    if labelled:
        from ..errors import DataError

        if data.y is None:
            raise DataError(f"{spec}: evaluation needs labels; give an .npz with x and y, a folder with one "
                            "subfolder per class, a CIFAR folder or a built-in dataset")
        check_labels(data.y, classes, spec)
    return data._replace(x=fit_to_model(data.x, shape, spec))


def _poisson_range(low, high):
    if low < 0 or high > 1:
        raise click.BadParameter(f"Poisson spikes need inputs in [0, 1]; these run {low:.3g}..{high:.3g} "
                                 "(use --encoding direct)", param_hint="--encoding")


def check_encoding(encoding, x):
    """x, checked for the encoding: Poisson spikes need inputs in [0, 1] (inputs read lazily are checked batch by
    batch as they are read)."""
    if encoding != "poisson":
        return x
    if isinstance(x, LazyInputs):
        return x.checked(lambda batch, positions: _poisson_range(float(np.min(batch)), float(np.max(batch))))
    _poisson_range(float(np.min(x)), float(np.max(x)))
    return x
