"""The Python API: one call from an ONNX ANN plus calibration data to an SNN model and file."""

from dataclasses import dataclass, replace

import numpy as np
import onnx

from snnrt import contract
from snnrt.simulate import SpikingNetwork

from . import __version__, defaults
from .batches import EvenSample, as_inputs, is_stream, iter_batches
from .calibrate import MSE_TIMESTEPS, ThresholdSpec, calibrate
from .distributed import barrier, is_main
from .errors import UnsupportedModelError
from .find_sites import find_sites
from .layerwise import calibrate_layerwise
from .load import load_model
from .normalize import normalize
from .rewrite import if_node_name, rewrite
from .save import save_model
from .tune import check_steps, check_tuning, tune_thresholds

RESET_WORDS = {contract.RESET_SUBTRACT: "reset by subtraction", contract.RESET_ZERO: "reset to zero"}


def _method(reset):
    """The metadata's method, before the spread and tuning are added."""
    return f"IF neurons, {RESET_WORDS[reset]}, initial potential v_init*theta (Bu et al., AAAI 2022)"


def _fraction_of_theta(value, what, forms="a fraction"):
    """``value`` as a float in [0, 1], or a ValueError that names ``what``."""
    try:
        fraction = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be {forms} of the threshold, got {value!r}") from exc
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {fraction}")
    return fraction


def parse_v_init(value):
    """'half' -> 0.5, 'zero' -> 0.0, or a fraction of the threshold in [0, 1]."""
    named = {"half": 0.5, "zero": 0.0}
    if isinstance(value, str) and value in named:
        return named[value]
    return _fraction_of_theta(value, "initial potential", "'half', 'zero' or a fraction")


def parse_spread(value, v_init_fraction):
    """The spread of the membrane potentials after the first step, a fraction of the threshold in [0, 1];
    None: the default for ``v_init_fraction`` (defaults.SPREAD with theta/2, none with any other start)."""
    if value is None:
        return defaults.SPREAD if v_init_fraction == 0.5 else 0.0
    return _fraction_of_theta(value, "spread")


@dataclass
class LayerSummary:
    site: str
    replaced: str
    source: str
    threshold: np.ndarray
    spread: float = 0.0  # the layer's v_spread (0: no spread after the first step)
    warning: str = None
    start: np.ndarray = None  # the layer's initial potentials as fractions of its thresholds (one or per channel)


@dataclass
class SnnModel:
    """The converted network: the ONNX model (IF nodes in onnx2snn's domain) and what was done."""

    model: object
    ann: object
    layers: list
    dropped_output: list
    tuning: str = None  # what threshold tuning did (convert(tune=True)), as in the metadata
    fitted_for: str = None  # the latency target, as in the metadata
    layerwise: str = None  # what layer-wise calibration did, as in the metadata

    def save(self, path):
        """Write the SNN file atomically (a failure leaves no partial file)."""
        save_model(self.model, path)

    def network(self, device="auto", order="auto"):
        """A runtime SpikingNetwork of this SNN (``order``: 'auto', 'step' or 'layer', see snnrt.simulate)."""
        return SpikingNetwork(self.model, device, order)


def convert(source, calibration=None, threshold=ThresholdSpec(), v_init=0.5, reset=contract.RESET_SUBTRACT,
            batch_size=128, progress=False, output=None, spread=None, tune=False,
            tune_timesteps=defaults.TUNE_TIMESTEPS, tune_samples=defaults.TUNE_SAMPLES, timesteps=None,
            layerwise=None, layerwise_samples=defaults.LAYERWISE_SAMPLES):
    """Convert an ANN (path, bytes or ModelProto) into an SnnModel; write it to ``output`` when given.

    In a torch.distributed process group, the calibration statistics are shared out by batch and merged, every
    process returns the same SnnModel, and rank 0 alone writes ``output`` (onnx2snn.distributed).

    ``calibration``: inputs for the threshold statistics: an array (N, ...), LazyInputs (onnx2snn.data), or any
    iterable of batches, x or (x, y) (a torch DataLoader; labels unused), read once: the samples that tuning and
    layer-wise calibration take are then kept evenly spaced over it as it passes (onnx2snn.batches.EvenSample),
    not at the exact positions that an array's would be; ``threshold``: a ThresholdSpec or its
    text form ('auto', 'clip', 'max', 'percentile:99.9'); ``v_init``: initial membrane potential as a
    fraction of theta ('half' = 0.5 as in Bu et al. 2022, 'zero' = classic conversion); ``spread``:
    after the first step, spread the membrane potentials of each layer's neurons evenly over this fraction
    of theta, in [0, 1] (0: none; see snnrt.contract, v_spread); None: defaults.SPREAD with v_init = 1/2,
    else 0 (so that v_init='zero' is the classic conversion). ``tune``: then scale the thresholds of the
    layers whose threshold is a calibration statistic by simulating the SNN (on CUDA when torch sees it) on
    ``tune_samples`` calibration inputs over ``tune_timesteps``, and pick the spreads of those that have one
    unless ``spread`` is given, and calibrate their initial potentials per channel starting from ``v_init``
    (onnx2snn.tune, onnx2snn.potentials: one SNN run per layer and factor or spread tried, one for the starts).
    A ``spread`` given explicitly applies to trained bounds too; by default they keep none.
    ``timesteps``: the latency target, the T (an int or a list) the SNN will run for; the mse thresholds, the
    layer-wise calibration and tuning (in place of ``tune_timesteps``) are then fitted for those T instead of the
    anytime range defaults.ANYTIME_TIMESTEPS. ``layerwise``: finally fit every IF layer to the spike trains it
    receives from the converted layers before it (None: defaults.LAYERWISE), on ``layerwise_samples``
    calibration inputs (onnx2snn.layerwise: one SNN run).
    """
    spec = ThresholdSpec.parse(threshold) if isinstance(threshold, str) else threshold
    fraction = parse_v_init(v_init)
    if reset not in RESET_WORDS:
        raise ValueError(f"reset must be one of {contract.RESET_MODES}, got {reset!r}")
    layerwise = defaults.LAYERWISE if layerwise is None else layerwise
    tune_spreads = spread is None
    spread = parse_spread(spread, fraction)
    target = None if timesteps is None else check_steps(timesteps, "timesteps")
    if tune:
        tune_timesteps, tune_samples = check_tuning(target or tune_timesteps, tune_samples)
    ann, _ = normalize(load_model(source))
    report = find_sites(ann)
    if report.problems:
        raise UnsupportedModelError(
            f"{len(report.problems)} node(s) cannot become spiking layers:\n"
            + "\n".join(f"  - {p}" for p in report.problems)
        )
    if not report.sites:
        raise UnsupportedModelError("the model has no ReLU-like activation to turn into IF neurons")
    fitted_for = target or defaults.ANYTIME_TIMESTEPS
    if is_stream(calibration):  # one pass: statistics, and the samples that tuning and layer-wise calibration take
        sample = EvenSample(max(tune_samples if tune else 1, layerwise_samples if layerwise else 1))
        stream = sample.watch(iter_batches(calibration, batch_size))
        thresholds = calibrate(ann, report.sites, stream, spec, batch_size, progress, target or MSE_TIMESTEPS)
        for _ in stream:  # what calibration left unread (every threshold a trained bound)
            pass
        calibration, samples = sample.samples(), sample.seen
    else:
        calibration = None if calibration is None else as_inputs(calibration)
        thresholds = calibrate(ann, report.sites, calibration, spec, batch_size, progress, target or MSE_TIMESTEPS)
        samples = 0 if calibration is None else len(calibration)
    metadata = {
        contract.META_METHOD: _method(reset) + _spread_text(spread),
        contract.META_THRESHOLD_SOURCE: spec.describe(),
        contract.META_CALIBRATION_SAMPLES: samples,
        contract.META_V_INIT_FRACTION: fraction,
        contract.META_SPREAD: spread,
        contract.META_VERSION: __version__,
        contract.META_INPUT_ENCODING: "direct",
        contract.META_DROPPED_SOFTMAX: ",".join(report.dropped_output),
        contract.META_FITTED_FOR: target_text(target),
    }
    tunable = [site for site in report.sites if not thresholds[site.name].trained] if tune else []
    if tune and not tunable:
        metadata[contract.META_TUNING] = "nothing to tune: every threshold is a trained bound"
    spread_trained = not tune_spreads
    snn = rewrite(ann, report, thresholds, fraction, reset, metadata, spread, spread_trained=spread_trained)
    if tunable:
        tuning = tune_thresholds(snn, ann, report.dropped_output, [if_node_name(site) for site in tunable],
                                 calibration, fraction, tune_timesteps, tune_samples, batch_size, progress,
                                 tune_spreads, calibrate_starts=True)
        for site in tunable:
            scale = tuning.scales[if_node_name(site)]
            before = thresholds[site.name]
            warning = before.warning and f"{before.warning} (before tuning; x{scale:g} after)"
            thresholds[site.name] = replace(before, values=(before.values * scale).astype(np.float32),
                                            source=f"{before.source} x{scale:g} (tuned)", warning=warning)
        if tuning.spreads:
            spread = {site.name: tuning.spreads.get(if_node_name(site), spread) for site in report.sites}
            metadata[contract.META_SPREAD] = "per layer: the v_spread of each IF node (0 where it has none)"
        starts = {site.name: tuning.starts[if_node_name(site)] for site in tunable
                  if if_node_name(site) in tuning.starts}
        if starts:
            metadata[contract.META_V_INIT_FRACTION] = (f"per channel: the v_init of each IF node ({fraction} of theta, "
                                                       "then calibrated by tuning where that lowered its error)")
        metadata[contract.META_METHOD] = (_method(reset) + _spread_text(spread) + "; thresholds tuned"
                                          + ", initial potentials calibrated per channel" * bool(starts)
                                          + " by simulation")
        metadata[contract.META_TUNING] = tuning.describe()
        snn = rewrite(ann, report, thresholds, fraction, reset, metadata, spread, starts, spread_trained)
    fitted = None
    if layerwise and samples:
        snn, fitted = calibrate_layerwise(snn, ann, calibration, fitted_for, layerwise_samples, batch_size, progress)
    layerwise_text = fitted.describe() if fitted else ("not run" if not layerwise else
                                                        "not run: no calibration data (every threshold is trained)")
    set_metadata(snn, {contract.META_LAYERWISE: layerwise_text})
    written = _if_attributes(snn)
    layers = [_summary(s, thresholds[s.name], written[if_node_name(s)], fitted) for s in report.sites]
    result = SnnModel(snn, ann, layers, report.dropped_output, metadata.get(contract.META_TUNING),
                      metadata[contract.META_FITTED_FOR], layerwise_text)
    if output is not None:  # with several processes (onnx2snn.distributed) rank 0 writes, and the others wait for it
        if is_main():
            result.save(output)
        barrier()
    return result


def _spread_text(spread):
    """The method's words for ``spread``: a number, or a mapping site name -> number picked by tuning."""
    if isinstance(spread, dict):
        return ("; membranes spread after step 1 by a fraction of theta picked per layer by simulation "
                "(the IF nodes' v_spread; 0 where absent)")
    return f"; membranes spread by {spread}*theta after step 1" if spread else ""


def target_text(target):
    """The metadata's words for the latency target."""
    if target is None:
        steps = defaults.ANYTIME_TIMESTEPS
        return f"anytime, T={steps[0]}..{steps[-1]}"
    return "T=" + ",".join(str(t) for t in target)


def set_metadata(model, entries):
    """Set the metadata_props ``entries`` {key: value} of ``model``, replacing those already there."""
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=str(value)))


def _summary(site, threshold, attributes, fitted):
    """The LayerSummary of ``site`` from its Threshold and the attributes written on its IF node; ``fitted``: the
    LayerwiseResult, if layer-wise calibration ran."""
    theta = np.asarray(attributes[contract.ATTR_THRESHOLD], np.float32)
    source = threshold.source
    if fitted is not None and if_node_name(site) in fitted.fits:
        source += ", fitted layer-wise"
    return LayerSummary(site.name, site.replaced, source, theta, attributes.get(contract.ATTR_SPREAD, 0.0),
                        threshold.warning, contract.start_fractions(theta, attributes[contract.ATTR_V_INIT]))


def _if_attributes(snn):
    """{IF node name: {attribute name: value}} for the IF nodes of ``snn``."""
    return {node.name: {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
            for node in snn.graph.node if node.op_type == contract.IF_OP}
