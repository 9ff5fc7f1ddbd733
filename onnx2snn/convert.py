"""The Python API: one call from an ONNX ANN plus calibration data to an SNN model and file."""

import json
from dataclasses import dataclass, replace

import numpy as np
import onnx

from snnrt import contract
from snnrt.simulate import SpikingNetwork

from . import __version__, defaults
from .calibrate.layerwise import UnfoldableGraph, calibrate_layerwise
from .calibrate.signed_thresholds import SignedSpec
from .calibrate.thresholds import MSE_TIMESTEPS, calibrate
from .calibrate.tune import check_tuning, tune_thresholds
from .data.batches import EvenSample, as_inputs, is_stream, iter_batches
from .distributed import barrier, is_main
from .errors import UnsupportedModelError
from .load.model import load_model
from .normalize import normalize
from .recipes import get_recipe
from .rewrite import if_node_name, neuron_attributes, rewrite, write_neurons
from .save import save_model
from .sites.find_sites import find_sites

RESET_WORDS = {contract.RESET_SUBTRACT: "reset by subtraction", contract.RESET_ZERO: "reset to zero"}


def _method(reset):
    """The metadata's method, before the spread and tuning are added."""
    return f"IF neurons, {RESET_WORDS[reset]}, initial potential v_init*theta (Bu et al., AAAI 2022)"


@dataclass
class LayerSummary:
    site: str
    replaced: str
    source: str
    threshold: np.ndarray
    spread: float = 0.0  # the layer's v_spread (0: no spread after the first step)
    warning: str = None
    start: np.ndarray = None  # the layer's initial potentials as fractions of its thresholds (one or per channel)
    kind: str = "IF"  # what the site became: "IF", or "signed IF" (a SignedIFNeuron; ``replaced`` names its readers)


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
    compensated: list = None  # the ExpectationCompensation units (onnx2snn.sites.compensate.Compensation)
    signed: list = None  # a LayerSummary (kind "signed IF") per SignedIFNeuron, in front of weight layers

    def save(self, path):
        """Write the SNN file atomically (a failure leaves no partial file)."""
        save_model(self.model, path)

    def network(self, device="auto", order="auto"):
        """A runtime SpikingNetwork of this SNN (``order``: 'auto', 'step' or 'layer', see snnrt.simulate)."""
        return SpikingNetwork(self.model, device, order)


def convert(source, calibration=None, recipe="default", *, output=None, batch_size=128, progress=False,
            tune_timesteps=defaults.TUNE_TIMESTEPS, tune_samples=defaults.TUNE_SAMPLES,
            layerwise_samples=defaults.LAYERWISE_SAMPLES, spiking_only=False, signed_spec=SignedSpec(), **overrides):
    """Convert an ANN (path, bytes or ModelProto) into an SnnModel; write it to ``output`` when given.

    ``calibration``: inputs (N, ...) whose ANN activations set the thresholds (no labels); ``recipe``: a preset
    name ('default', 'bu2022', 'classic', 'qcfs') or a Recipe; ``overrides``: Recipe fields that replace the
    preset's (``threshold`` may also be a ThresholdSpec), for example ``spread=0.5`` or ``timesteps=4``.
    ``tune_timesteps`` and ``tune_samples``: with ``tune``, the T whose outputs should follow the ANN (the latency
    target replaces them) and the calibration inputs simulated (onnx2snn.calibrate.tune); ``layerwise_samples``: the
    calibration inputs that layer-wise calibration runs the SNN on (onnx2snn.calibrate.layerwise). Nonlinearities that
    no IF neuron computes become ExpectationCompensation units (onnx2snn.sites.compensate; not spiking, named in the
    metadata and ``compensated``); ``spiking_only`` refuses them instead, listing the nodes. A weight layer that
    would read a real value (a unit's output, a current) reads the spikes of a signed IF neuron instead, set by
    ``signed_spec`` (onnx2snn.calibrate.signed_thresholds; listed in ``signed`` and the metadata). The file's metadata
    records the recipe by name and value. docs/conversion.md describes the method.

    ``calibration`` may also be LazyInputs (onnx2snn.data.lazy_inputs) or any iterable of batches, x or (x, y) (a torch
    DataLoader; labels unused), read once: the samples that tuning and layer-wise calibration take are then kept
    evenly spaced over it as it passes (onnx2snn.data.batches.EvenSample), not at the exact positions that an array's
    would be. In a torch.distributed process group, the calibration statistics are shared out by batch and
    merged, every process returns the same SnnModel, and rank 0 alone writes ``output`` (onnx2snn.distributed).

    Example::

        import onnx2snn
        x_train, _ = onnx2snn.mnist5k("train")
        snn = onnx2snn.convert("models/onnx/mnist_cnn_relu.onnx", x_train[:1000], recipe="bu2022",
                               output="cnn.snn.onnx")
    """
    recipe = get_recipe(recipe).with_overrides(**overrides) if overrides else get_recipe(recipe)
    fitting = None if recipe.timesteps is None else latency_steps(recipe.timesteps)
    if recipe.tune:
        tune_timesteps, tune_samples = check_tuning(fitting or tune_timesteps, tune_samples)
    ann, report = _sites(source, recipe, spiking_only)  # load, normalize, find the sites
    kept = max(tune_samples if recipe.tune else 1, layerwise_samples if recipe.layerwise else 1)
    thresholds, calibration, samples = _calibrate(ann, report, calibration, recipe.threshold_spec(), signed_spec,
                                                  kept, batch_size, progress, fitting or MSE_TIMESTEPS)
    metadata = _metadata(recipe, report, samples, signed_spec)
    # the one rewrite: tuning and layer-wise calibration then run the SNN and write their values into its IF nodes
    snn = rewrite(ann, report, thresholds, recipe.v_init, recipe.reset, recipe.spread_value(),
                  recipe.spread is not None, signed_spec.levels)
    if recipe.tune:
        _tune(snn, ann, report, thresholds, calibration, recipe, metadata, tune_timesteps, tune_samples,
              batch_size, progress)
    snn, fitted = _fit_layerwise(snn, ann, calibration, samples, recipe, fitting or defaults.LAYERWISE_TIMESTEPS,
                                 layerwise_samples, batch_size, progress, metadata)
    set_metadata(snn, metadata)
    result = _result(snn, ann, report, thresholds, fitted, metadata)
    if output is not None:  # with several processes (onnx2snn.distributed) rank 0 writes, and the others wait for it
        if is_main():
            result.save(output)
        barrier()
    return result


def _sites(source, recipe, spiking_only):
    """Load, normalize, find the sites: (the clean ANN, its SiteReport), or UnsupportedModelError where the
    model cannot be converted with ``recipe``."""
    ann, _ = normalize(load_model(source, float_input=False), source=source)
    report = find_sites(ann)
    refusal = report.refusal(spiking_only)
    if refusal:
        raise UnsupportedModelError(refusal)
    unbounded = [site.name for site in report.sites if site.bound is None] if recipe.bounds_only else []
    if unbounded:
        raise UnsupportedModelError(
            f"recipe {recipe.name!r} needs a trained clip bound on every activation, but {', '.join(unbounded)} "
            "has none; use recipe 'bu2022' or 'default', which take a statistic there")
    return ann, report


def _calibrate(ann, report, calibration, spec, signed_spec, kept, batch_size, progress, timesteps):
    """(thresholds {site name: Threshold}, the calibration inputs that tuning and layer-wise calibration take,
    the number of calibration samples). A stream is read once: the statistics, and up to ``kept`` samples kept
    evenly spaced over it."""
    if not is_stream(calibration):
        calibration = None if calibration is None else as_inputs(calibration)
        thresholds = calibrate(ann, report.sites, calibration, spec, batch_size, progress, timesteps, report.signed,
                               signed_spec)
        return thresholds, calibration, 0 if calibration is None else len(calibration)
    sample = EvenSample(kept)
    stream = sample.watch(iter_batches(calibration, batch_size))
    thresholds = calibrate(ann, report.sites, stream, spec, batch_size, progress, timesteps, report.signed, signed_spec)
    for _ in stream:  # what calibration left unread (every threshold a trained bound)
        pass
    return thresholds, sample.samples(), sample.seen


def _metadata(recipe, report, samples, signed_spec):
    """The SNN file's metadata {key: value} before tuning and layer-wise calibration add theirs."""
    return {
        contract.META_METHOD: _method(recipe.reset) + _spread_text(recipe.spread_value()),
        contract.META_THRESHOLD_SOURCE: recipe.threshold_spec().describe(),
        contract.META_CALIBRATION_SAMPLES: samples,
        contract.META_V_INIT_FRACTION: recipe.v_init,
        contract.META_SPREAD: recipe.spread_value(),
        contract.META_VERSION: __version__,
        contract.META_INPUT_ENCODING: "direct",
        contract.META_DROPPED_SOFTMAX: ",".join(report.dropped_output),
        contract.META_FITTED_FOR: target_text(recipe.timesteps),
        contract.META_RECIPE: recipe.name,
        contract.META_RECIPE_VALUES: json.dumps(recipe.values()),
        contract.META_COMPENSATED: compensation_text(report.compensated),
        contract.META_SIGNED: signed_text(report.signed, signed_spec),
    }


def _tune(snn, ann, report, thresholds, calibration, recipe, metadata, timesteps, samples, batch_size, progress):
    """Tune the thresholds that are statistics by simulation (onnx2snn.calibrate.tune), with the spreads unless
    the recipe gives one and the starts per channel; write the results into ``snn``, ``thresholds`` and
    ``metadata``."""
    tunable = [site for site in report.sites if not thresholds[site.name].trained]
    if not tunable:
        metadata[contract.META_TUNING] = "nothing to tune: every threshold is a trained bound"
        return
    spread, fraction = recipe.spread_value(), recipe.v_init
    tuning = tune_thresholds(snn, ann, report.dropped_output, [if_node_name(site) for site in tunable],
                             calibration, fraction, timesteps, samples, batch_size, progress,
                             recipe.spread is None, calibrate_starts=True)
    attributes = {}
    for site in tunable:
        name = if_node_name(site)
        scale = tuning.scales[name]
        before = thresholds[site.name]
        warning = before.warning and f"{before.warning} (before tuning; x{scale:g} after)"
        thresholds[site.name] = replace(before, values=(before.values * scale).astype(np.float32),
                                        source=f"{before.source} x{scale:g} (tuned)", warning=warning)
        attributes[name] = neuron_attributes(thresholds[site.name], fraction, recipe.reset,
                                             tuning.spreads.get(name, spread), tuning.starts.get(name),
                                             recipe.spread is not None)
    write_neurons(snn, attributes)
    if tuning.spreads:
        spread = {site.name: tuning.spreads.get(if_node_name(site), spread) for site in report.sites}
        metadata[contract.META_SPREAD] = "per layer: the v_spread of each IF node (0 where it has none)"
    if tuning.starts:
        metadata[contract.META_V_INIT_FRACTION] = (f"per channel: the v_init of each IF node ({fraction} of theta, "
                                                   "then calibrated by tuning where that lowered its error)")
    metadata[contract.META_METHOD] = (_method(recipe.reset) + _spread_text(spread) + "; thresholds tuned"
                                      + ", initial potentials calibrated per channel" * bool(tuning.starts)
                                      + " by simulation")
    metadata[contract.META_TUNING] = tuning.describe()


def _fit_layerwise(snn, ann, calibration, samples, recipe, timesteps, layerwise_samples, batch_size, progress,
                   metadata):
    """Layer-wise calibration (onnx2snn.calibrate.layerwise) where the recipe asks for it and there is data:
    (the SNN, the LayerwiseResult or None); what it did goes into ``metadata``."""
    fitted, unfoldable = None, []
    if recipe.layerwise and samples:
        try:
            snn, fitted = calibrate_layerwise(snn, ann, calibration, timesteps, layerwise_samples, batch_size,
                                              progress, recipe.refit_weights)
        except UnfoldableGraph as exc:
            unfoldable = exc.problems
    if fitted:
        text = fitted.describe()
    elif unfoldable:
        text = ("not run: it runs every time step at once, which this graph does not allow ("
                + "; ".join(unfoldable) + ")")
    else:
        text = "not run" if not recipe.layerwise else "not run: no calibration data (every threshold is trained)"
    metadata[contract.META_LAYERWISE] = text
    return snn, fitted


def _result(snn, ann, report, thresholds, fitted, metadata):
    """The SnnModel of the finished ``snn``, with a LayerSummary per site from the values its IF nodes hold."""
    written = _if_attributes(snn)
    layers = [_summary(s, thresholds[s.name], written[if_node_name(s)], fitted) for s in report.sites]
    return SnnModel(snn, ann, layers, report.dropped_output, metadata.get(contract.META_TUNING),
                    metadata[contract.META_FITTED_FOR], metadata[contract.META_LAYERWISE], report.compensated,
                    [_signed_summary(s, thresholds[s.name], written[s.name]) for s in report.signed])


def compensation_text(units):
    """The metadata's words for the compensation units: 'none', or 'NAME: Op+Op (inputs -> output); ...'."""
    return "; ".join(f"{u.name}: {u.computes} ({', '.join(u.inputs)} -> {u.output})" for u in units) or "none"


def signed_text(sites, spec):
    """The metadata's words for the signed IF neurons: 'none', or how they are set and 'NAME -> reader, ...; ...'."""
    if not sites:
        return "none"
    return f"{spec.describe()}: " + "; ".join(f"{s.name} ({s.input}) -> {', '.join(s.readers)}" for s in sites)


def _spread_text(spread):
    """The method's words for ``spread``: a number, or a mapping site name -> number picked by tuning."""
    if isinstance(spread, dict):
        return ("; membranes spread after step 1 by a fraction of theta picked per layer by simulation "
                "(the IF nodes' v_spread; 0 where absent)")
    return f"; membranes spread by {spread}*theta after step 1" if spread else ""


def latency_steps(target):
    """The T that a latency target is fitted on: each target T with its neighbours T - 1 and T + 1. Fitted to one
    T alone, thresholds and biases fit that T's rounding grid so closely that inputs unlike the calibration
    samples fall off it (development half, T=4 fitted on 3, 4, 5 against 4 alone: resnet13 95.4 against 91.6 %,
    dense7 97.2 against 94.2 %)."""
    return tuple(sorted({step for t in target for step in (t - 1, t, t + 1) if step >= 1}))


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


def _signed_summary(site, threshold, attributes):
    """The LayerSummary of a SignedSite from its Threshold and the attributes written on its node."""
    theta = np.asarray(attributes[contract.ATTR_THRESHOLD], np.float32)
    return LayerSummary(site.name, "for " + ",".join(site.readers), threshold.source, theta, 0.0, threshold.warning,
                        contract.start_fractions(theta, attributes[contract.ATTR_V_INIT]), "signed IF")


def _if_attributes(snn):
    """{node name: {attribute name: value}} for the IF and signed IF nodes of ``snn``."""
    return {node.name: {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
            for node in snn.graph.node if node.op_type in (contract.IF_OP, contract.SIGNED_IF_OP)}
