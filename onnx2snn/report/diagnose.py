"""Where a conversion loses accuracy: every IF layer's rate code against the ANN's activation, at every T.

For each IF layer and T: the relative error ‖snn − ann‖/‖ann‖ of the SNN's rate code (the mean of the layer's
outputs over steps 1..T) against the ANN's activation at the same site on the same inputs, the cosine, the mean
signed error (bias), the firing rate and the share of neurons that never fire; per layer the share of the ANN's
activations above the threshold (clipped). The layer's own error is that of the IF layer alone driven by the
ANN's input current at that site (constant for T steps): what the layer adds itself, apart from what reaches it
from upstream. On request, the layer to repair first: the one whose thresholds, scaled in turn, gain most agreement
with the ANN's predictions on the first inputs (onnx2snn.report.diagnose_repair). The SNN runs
in snnrt, the ANN in ONNX Runtime (onnx2snn.report.diagnose_sites); everything is summed batch by batch
(onnx2snn.report.diagnose_sums).
"""

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from snnrt.simulate import SpikingNetwork

from ..calibrate.thresholds import ann_batches, ann_session, check_input_shape
from ..data.batches import as_inputs
from ..defaults import DIAGNOSE_BATCH_SIZE
from ..errors import DataError, ModelMismatchError
from ..load.model import load_model
from .diagnose_repair import repair_timesteps, try_repairs
from .diagnose_sites import ann_with_sites, if_sites
from .diagnose_sums import RateSums, broadcast

DEFAULT_TIMESTEPS = (1, 2, 4, 8, 16, 32, 64)
CLIPPED_TOO_MANY = 0.05  # a layer that clips more of the ANN's activations than this has too low a threshold
GROWTH_TOO_MUCH = 2.0  # a layer whose error is this many times its upstream neighbour's is named
ALONE_BYTES = 16 << 20  # the most memory that one chunk of steps of an IF layer run alone may take


@dataclass
class LayerDiagnosis:
    name: str  # the IF node
    site: str  # the tensor it outputs, the ANN's activation
    neurons: int
    threshold: tuple  # (min, max) over channels
    clipped: float  # share of the ANN's activations above the threshold
    dead_channels: tuple  # (channels that never fire though the ANN activates them, channels it activates)
    by_t: dict  # T -> {error, own_error, growth, cosine, bias, firing_rate, silent}
    repair: tuple = (None, 0.0)  # (threshold factor that gains most agreement or None, gain in points)
    verdicts: list = field(default_factory=list)

    def mean_own_error(self):
        return float(np.mean([f["own_error"] for f in self.by_t.values()]))

    def as_dict(self):
        return {"name": self.name, "site": self.site, "neurons": self.neurons,
                "threshold": {"min": self.threshold[0], "max": self.threshold[1]}, "clipped": self.clipped,
                "dead_channels": self.dead_channels[0], "active_channels": self.dead_channels[1],
                "mean_own_error": self.mean_own_error(),
                "repair": {"factor": self.repair[0], "gain": self.repair[1]}, "verdicts": self.verdicts,
                "by_t": {str(t): figures for t, figures in self.by_t.items()}}


@dataclass
class Diagnosis:
    samples: int
    timesteps: list
    layers: list  # LayerDiagnosis in graph order
    repair_samples: int = 0  # inputs the threshold repairs were tried on
    repair_timesteps: list = field(default_factory=list)  # the T their agreement is the mean over

    @property
    def worst(self):
        """The layer that adds the most error itself (the highest own error, averaged over T)."""
        return max(self.layers, key=LayerDiagnosis.mean_own_error)

    @property
    def best_repair(self):
        """The layer whose threshold repair gains most agreement with the ANN (None where none gains)."""
        best = max(self.layers, key=lambda layer: layer.repair[1])
        return best if best.repair[1] > 0 else None

    def as_dict(self):
        best = self.best_repair
        return {"samples": self.samples, "timesteps": list(self.timesteps), "worst": self.worst.name,
                "best_repair": best.name if best else None, "repair_samples": self.repair_samples,
                "repair_timesteps": list(self.repair_timesteps), "layers": [layer.as_dict() for layer in self.layers]}


def diagnose(snn, ann, x, timesteps=DEFAULT_TIMESTEPS, batch_size=DIAGNOSE_BATCH_SIZE, device="auto", order="auto",
             progress=False, repair_samples=0):
    """The Diagnosis of an SNN (path, ModelProto or SnnModel) against its ANN (path or ModelProto) on inputs x
    (N, ...): every IF layer's rate-code error by T against the ANN's activation, and its own error (the layer
    alone on the ANN's input). ``Diagnosis.worst`` names the layer that adds the most error itself;
    ``Diagnosis.best_repair`` the layer whose thresholds times 0.8 or 1.25 gain most agreement with the ANN's
    predictions, tried on the first ``repair_samples`` inputs (0: not tried, None then).

    Example::

        import onnx2snn
        x_test, _ = onnx2snn.mnist5k("test")
        found = onnx2snn.diagnose("cnn.snn.onnx", "models/onnx/mnist_cnn_relu.onnx", x_test[:200])
        print(found.best_repair.name if found.best_repair else found.worst.name)
    """
    timesteps = sorted(set(int(t) for t in timesteps))
    if not timesteps or timesteps[0] < 1:
        raise ValueError(f"time steps must be positive integers, got {timesteps}")
    x = as_inputs(x)
    if not len(x):
        raise DataError("diagnose needs at least one input")
    snn_model = load_model(getattr(snn, "model", snn))  # an SnnModel holds its ModelProto as .model
    sites = if_sites(snn_model)
    if not sites:
        raise ModelMismatchError("the SNN has no IF nodes: give an SNN file that onnx2snn convert wrote")
    ann_model = ann_with_sites(ann, snn_model, sites)
    _check_inputs(ann_model, x)
    network = SpikingNetwork(snn_model, device, order)
    alone = {node.name: copy.deepcopy(layer) for node, layer in network.graph.stateful_layers()}
    rates = {s.name: RateSums(timesteps, torch.from_numpy(s.threshold).to(network.device)) for s in sites}
    own = {s.name: RateSums(timesteps) for s in sites}
    clipped = dict.fromkeys(rates, 0.0)
    active = {}
    names = [s.current for s in sites] + [s.output for s in sites] + [ann_model.graph.output[0].name]
    ann_predictions = []
    batches = ann_batches(ann_model, names, x, batch_size)
    starts = range(0, len(x), batch_size)
    for start, values in tqdm(zip(starts, batches), total=len(starts), desc="diagnosing", unit="batch",
                              disable=not progress, leave=False):
        values = [torch.from_numpy(v).to(network.device) for v in values]
        currents, outputs = dict(zip(rates, values[: len(sites)])), dict(zip(rates, values[len(sites) : -1]))
        if repair_samples and values[-1].dim() != 2:  # the trials score the ANN's predicted classes
            raise DataError("repair trials score the ANN's predicted classes, but the ANN's first output "
                            f"{names[-1]!r} is not (N, classes); diagnose without --repair-samples")
        ann_predictions.append(values[-1].argmax(-1).cpu().numpy() if repair_samples else None)
        observe = {}
        for site in sites:
            ann_out = outputs[site.name]
            clipped[site.name] += float((ann_out > broadcast(rates[site.name].theta, ann_out)).sum())
            positive = (ann_out > 0).any(0)
            active[site.name] = positive if site.name not in active else active[site.name] | positive
            observe[site.output] = _observer(site, rates[site.name], ann_out)
        network.run(x[start : start + batch_size], timesteps[-1], observe=observe)
        for site in sites:
            _run_alone(alone[site.name], currents[site.name], timesteps[-1], own[site.name], outputs[site.name])
    layers = []
    for site in sites:
        sums = rates[site.name]
        by_t = {t: {**sums.figures(t), "own_error": own[site.name].error(t)} for t in timesteps}
        neurons = int(active[site.name].numel())
        layers.append(LayerDiagnosis(site.name, site.output, neurons,
                                     (float(site.threshold.min()), float(site.threshold.max())),
                                     clipped[site.name] / (len(x) * neurons), sums.dead_channels(active[site.name]),
                                     by_t))
    _add_growth(layers)
    result = Diagnosis(len(x), timesteps, layers)
    if repair_samples:
        result.repair_samples, result.repair_timesteps = min(repair_samples, len(x)), repair_timesteps(timesteps)
        found = try_repairs(snn_model, [s.name for s in sites], x[: result.repair_samples],
                            np.concatenate(ann_predictions)[: result.repair_samples], result.repair_timesteps,
                            batch_size, device, order)
        for layer in layers:
            layer.repair = found[layer.name]
    for layer in layers:
        layer.verdicts = verdicts(layer, result)
    return result


def _check_inputs(ann, x):
    check_input_shape(ann_session(ann, []).get_inputs()[0].shape, np.shape(x), "the data")


def _observer(site, sums, ann):
    """An observe callback of SpikingNetwork.run that adds the chunks of an IF layer's outputs to ``sums``."""
    def observe(values, first_step, first_sample):
        if values.shape[2:] != ann.shape[1:]:
            raise ModelMismatchError(f"IF node {site.name!r} outputs {tuple(values.shape[2:])} per sample, the ANN "
                                     f"{tuple(ann.shape[1:])} at {site.output!r}: give the ANN that the SNN was "
                                     "converted from")
        sums.add(values, first_step, ann[first_sample : first_sample + values.shape[1]])

    return observe


def _run_alone(layer, current, timesteps, sums, ann):
    """Drive an IF layer by the ANN's ``current`` at every step, in chunks of steps, adding its outputs to sums."""
    layer.reset_state()
    steps = max(1, min(timesteps, ALONE_BYTES // max(1, current.numel() * current.element_size())))
    for first in range(0, timesteps, steps):
        count = min(steps, timesteps - first)
        out = layer.forward_sequence(current, count, constant_in_time=True)
        sums.add(out.reshape(count, *current.shape), first, ann)


def _add_growth(layers):
    """Each layer's error over that of the IF layer before it in graph order (None for the first)."""
    for before, layer in zip([None, *layers], layers):
        for t, figures in layer.by_t.items():
            upstream = before.by_t[t]["error"] if before is not None else 0.0
            figures["growth"] = figures["error"] / upstream if upstream else None


def verdicts(layer, diagnosis):
    """What is wrong with a layer, one line each (none when nothing is)."""
    found, t_max = [], diagnosis.timesteps[-1]
    if layer is diagnosis.best_repair:
        steps = diagnosis.repair_timesteps
        found.append(f"repair here first: thresholds x{layer.repair[0]:g} gain {layer.repair[1]:.1f} points of "
                     f"agreement with the ANN (mean over T={','.join(map(str, steps))}, {diagnosis.repair_samples} "
                     "inputs), the most of any layer")
    if layer is diagnosis.worst:
        found.append(f"adds the most error itself (own error {layer.mean_own_error():.3g}, mean over T)")
    if layer.clipped > CLIPPED_TOO_MANY:
        found.append(f"clips {layer.clipped:.1%} of activations: threshold too low")
    dead, active = layer.dead_channels
    if dead:
        found.append(f"dead channels: {dead} of {active} channels the ANN activates never fire by T={t_max}")
    growth = layer.by_t[t_max]["growth"]
    if growth is not None and growth >= GROWTH_TOO_MUCH:
        found.append(f"error grows {growth:.1f}x here (T={t_max})")
    return found
