"""Thresholds per activation site: the trained clip bound, or statistics of the ANN's activations.

The clean ANN runs in ONNX Runtime (the independent reference) on batches of calibration data, with
every site's output added as a graph output; a StreamingHistogram per site keeps max and percentiles
in bounded memory. ONNX Runtime is imported where a session is made, not with this module.
"""

import itertools
from dataclasses import dataclass

import numpy as np
import onnx
from tqdm.auto import tqdm

from ..data.batches import is_stream, iter_batches
from ..defaults import CAP_PERCENTILE, CAP_TRAINED_SHARE
from ..distributed import merge_histograms, owns
from ..errors import CalibrationError
from .histogram import StreamingHistogram
from .signed_thresholds import SignedSpec, channel_axis, signed_source, signed_statistic

SOURCES = ("auto", "clip", "max", "percentile", "mse")
MSE_TIMESTEPS = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_PERCENTILE = 99.99


@dataclass(frozen=True)
class ThresholdSpec:
    """Where thresholds come from.

    ``auto`` (= ``clip``): the trained bound where the site has one (Clip, ReLU6, Min, QCFS), else the
    ``mse`` statistic. Statistics, used for every site when named: ``mse``, the threshold that
    minimizes the rate-coding error summed over T = 1..64 (see StreamingHistogram.quantization_optimal);
    ``max``; ``percentile`` (99.99 unless given, zeros included).
    """

    source: str = "auto"
    percentile: float = DEFAULT_PERCENTILE
    per_channel: bool = True

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"threshold source must be one of {SOURCES}, got {self.source!r}")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")

    @classmethod
    def parse(cls, text, per_channel=True):
        """'auto', 'clip', 'max', 'mse', 'percentile' or 'percentile:99.9'."""
        source, _, value = text.partition(":")
        if value and source != "percentile":
            raise ValueError(f"only 'percentile' takes a value, got {text!r}")
        try:
            percentile = float(value) if value else DEFAULT_PERCENTILE
        except ValueError as exc:
            raise ValueError(f"cannot read the percentile in {text!r}; write e.g. percentile:99.9") from exc
        return cls(source, percentile, per_channel)

    def statistic(self):
        if self.source in ("auto", "clip", "mse"):
            return "mse"
        if self.source == "max":
            return "max"
        return f"percentile {self.percentile:g}"

    def describe(self):
        stat = self.statistic()
        scope = "per channel" if self.per_channel else "per layer"
        prefix = "trained clip bound, else " if self.source in ("auto", "clip") else ""
        return f"{prefix}{stat} {scope}"

    def uses_bound(self, site):
        return self.source in ("auto", "clip") and site.bound is not None


@dataclass
class Threshold:
    values: np.ndarray  # shape (1,) or (channels,)
    source: str
    warning: str = None
    trained: bool = False  # a bound that training fitted (clip, QCFS), not a statistic of calibration data
    channel_axis: int = 1  # the axis that per-channel values run along


def ann_session(model, names):
    """An ONNX Runtime CPU session of ``model`` that also outputs the tensors ``names``."""
    import onnxruntime as ort

    model = onnx.ModelProto.FromString(model.SerializeToString())
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ann_batches(model, names, x, batch_size):
    """The ANN tensors ``names`` on the inputs x (an array or LazyInputs), batch by batch (ONNX Runtime on the
    CPU): a list of arrays per batch."""
    session = ann_session(model, names)
    feed = session.get_inputs()[0].name
    for _, batch, _ in iter_batches(x, batch_size):
        yield session.run(names, {feed: batch})


def channel_rows(activation, per_channel, axis=1):
    """An activation (N, C, ...) as rows to reduce: one per channel (along ``axis``), or a single row."""
    if per_channel and activation.ndim >= 2:
        return np.moveaxis(activation, axis, 0).reshape(activation.shape[axis], -1)
    return activation.reshape(1, -1)


def _finalize(site, hist, spec, timesteps):
    if spec.source == "max":
        values = hist.maximum.copy()
        layer = float(hist.maximum.max())
    elif spec.statistic() == "mse":
        values = hist.quantization_optimal(timesteps)
        layer = float(hist.merged().quantization_optimal(timesteps)[0])
    else:
        values = hist.percentile(spec.percentile)
        layer = float(hist.merged().percentile(spec.percentile)[0])
    values, warning = _fill_unused(site.name, values, layer)
    scope = " per channel" if spec.per_channel else ""
    return Threshold(values.astype(np.float32), spec.statistic() + scope, warning)


def _fill_unused(name, values, layer):
    """(thresholds, a warning or None): channels whose statistic is 0 (never activated) take the layer's value, and
    every channel 1 where the whole layer never activated."""
    if layer <= 0:
        return np.ones(1), f"site {name!r} never activated on the calibration data; threshold set to 1"
    if np.any(values <= 0):
        dead = int(np.sum(values <= 0))
        return (np.where(values > 0, values, layer),
                f"site {name!r}: {dead} channel(s) never activated; they use the layer threshold {layer:.4g}")
    return values, None


def check_input_shape(expected, shape, what):
    """Raise CalibrationError unless ``shape`` (N, ...) fits the model input ``expected`` (dims or names)."""
    fixed = [d if isinstance(d, int) else None for d in expected[1:]]
    if len(fixed) != len(shape) - 1 or any(d is not None and d != s for d, s in zip(fixed, shape[1:])):
        want = "(N, " + ", ".join(str(d) if d is not None else "?" for d in fixed) + ")"
        raise CalibrationError(f"{what} has shape {tuple(shape)}, but the model takes inputs of shape {want}")


def calibrate(model, sites, data, spec=ThresholdSpec(), batch_size=128, progress=False, timesteps=MSE_TIMESTEPS,
              signed=(), signed_spec=SignedSpec()):
    """Return {site.name: Threshold} for a normalized ANN and calibration inputs ``data``: an array (N, ...),
    LazyInputs or an iterable of batches (onnx2snn.data.batches); the mse statistic is fitted for ``timesteps``.
    ``signed``: SignedSites (onnx2snn.sites.signed_sites), whose thresholds come from the same pass
    (``signed_spec``)."""
    thresholds = {}
    for site in sites:
        if spec.uses_bound(site):
            bound = np.atleast_1d(np.asarray(site.bound, dtype=np.float32))
            thresholds[site.name] = Threshold(bound, f"trained bound ({site.replaced})", trained=True)
    pending = [s for s in sites if s.name not in thresholds]
    # with several processes (onnx2snn.distributed) each runs its own batches, and batch 0, whose activations set
    # where every histogram's range starts, as they do in one process
    batches = iter_batches(data, batch_size, keep=lambda i: i == 0 or owns(i)) if data is not None else iter(())
    first = next(batches, None)
    capped = [s for s in sites if s.name in thresholds and s.levels is None] if first is not None else []
    if not pending and not capped and not signed:
        return thresholds
    if first is None:
        raise CalibrationError(
            f"{len(pending) + len(signed)} activation(s) and signed neuron(s) have no trained bound, so calibration "
            "data is needed; give --calib"
        )
    measured = pending + capped
    probes = [(s.name, s.output, lambda a: channel_rows(a, spec.per_channel)) for s in measured]
    # a signed neuron's threshold is a statistic of |x| along its channel axis
    probes += [(s.name, s.input, lambda a: channel_rows(np.abs(a), signed_spec.per_channel, channel_axis(a.ndim)))
               for s in signed]
    ranks = {}
    session = ann_session(model, [value for _, value, _ in probes])
    input_name = session.get_inputs()[0].name
    histograms = {}
    total = -(-len(data) // batch_size) if hasattr(data, "__len__") and not is_stream(data) else None
    for start, batch, _ in tqdm(itertools.chain([first], batches), total=total, desc="calibrating", unit="batch",
                                disable=not progress, leave=False):
        check_input_shape(session.get_inputs()[0].shape, batch.shape, "calibration data")
        bad = np.flatnonzero(~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1))
        if len(bad):
            raise CalibrationError(
                f"calibration sample {start + int(bad[0])} contains NaN or inf ({len(bad)} bad sample(s) in "
                f"this batch); clean the calibration data"
            )
        values = session.run([value for _, value, _ in probes], {input_name: batch})
        for (name, _, to_rows), activation in zip(probes, values):
            if not np.isfinite(activation).all():
                raise CalibrationError(
                    f"activation {name!r} overflows to NaN/inf on calibration samples {start}..."
                    f"{start + len(batch) - 1}; check the model's weights and input scaling"
                )
            rows = to_rows(activation)
            ranks[name] = activation.ndim
            hist = histograms.setdefault(name, StreamingHistogram(len(rows)))
            hist.start_range(rows)
            if owns(start // batch_size):
                hist.update(rows)
    merge_histograms(histograms)
    for site in pending:
        thresholds[site.name] = _finalize(site, histograms[site.name], spec, timesteps)
    for site in capped:
        thresholds[site.name] = _cap(thresholds[site.name], site, histograms[site.name], spec, timesteps)
    for site in signed:
        values, warning = _fill_unused(site.name, *signed_statistic(histograms[site.name], signed_spec))
        thresholds[site.name] = Threshold(values.astype(np.float32), signed_source(signed_spec, len(values)), warning,
                                          channel_axis=channel_axis(ranks[site.name]))
    return thresholds


def _cap(bound, site, hist, spec, timesteps):
    """A clip bound that a channel's activations almost never reach (ReLU6 on small activations: fewer than 1 in
    CAP_PERCENTILE's complement at the bound) is no threshold to rate-code with: that channel's statistic
    replaces it. A bound that training made the channel use (a learned clip) is kept, and while any channel keeps
    it the layer counts as a trained bound (no spread, not tuned)."""
    levels = bound.values if bound.values.size in (1, len(hist.counts)) else np.min(bound.values)
    reached = hist.share_from(levels) >= 1 - CAP_PERCENTILE / 100
    if reached.all():
        return bound
    statistic = _finalize(site, hist, spec, timesteps)
    values = np.where(reached, bound.values, np.minimum(statistic.values, bound.values)).astype(np.float32)
    where = "" if not reached.any() else f" in {int((~reached).sum())} of {reached.size} channels"
    return Threshold(values, f"{statistic.source} (below the unused bound {np.max(bound.values):.4g}{where})",
                     statistic.warning, trained=bool(reached.any() and reached.mean() >= CAP_TRAINED_SHARE))
