"""Tuning by simulation: scale each IF layer's thresholds, pick its membrane spread and calibrate its initial
potentials per channel, so that the SNN follows the ANN.

A statistic (mse, max, percentile) picks each layer's thresholds from that layer's activations alone. It cannot
see how the layer's rounding and clipping errors travel through the layers after it. Tuning runs the converted
SNN itself, on calibration inputs and with the ANN's outputs as the reference (no labels).

For each tuned IF layer in graph order, it tries the layer's thresholds times each factor in TUNE_SCALES
(onnx2snn.defaults) and keeps the factor (1 included) with the smallest error::

    sum over T in timesteps of  w_T * mean((SNN output averaged over steps 1..T - ANN output)^2) / var(ANN output)

with weights w_T proportional to T ** TUNE_WEIGHT_POWER (onnx2snn.defaults) that sum to 1 (step_weights).

then, on layers that carry a spread (v_spread, snnrt.contract) and when the caller asks, tries the other spreads
in TUNE_SPREADS at the chosen factor and keeps the best (the layer's own included). The spread dithers the
neurons' rounding, and how much of it helps differs from layer to layer (on the bundled ReLU CNN the picked
spreads gain most at T = 2 and 4: benchmarks/accuracy.py). Last, when the caller asks, it shifts the layer's
initial potentials channel by channel so that the layer's mean output follows the ANN's at the tuned T's
(onnx2snn.calibrate.potentials), and keeps them where that lowers the error. The later layers are then tuned on the
calibrated ones. On the bundled ReLU CNN the starts gain most at T = 1 and 2.

Why the weights: the rounding error of the output averaged over T steps falls about as 1 / T^2, while the error of
clipping at the threshold does not fall. With the same weight for every T, the errors of T = 1 and 2 dominate, so the
tuner chose low thresholds that clip: the tuned ReLU CNN stayed 0.2 to 0.4 points below the ANN at T = 64 in every
calibration draw tried. Weighted by T, the large T's count as well, at a cost at the small T's (on the bundled MNIST
CNNs 6.6 points at T = 1 on the ReLU CNN, 1.6 at T = 2 on the max-pooling one: docs/results.md). The least-squares fit
of a start shift (onnx2snn.calibrate.potentials) stays unweighted, since a start matters at small T; the weighted error
decides whether the shifted starts are kept. A geometric mean (the same weight for a relative gain at every T), tried
before the spreads and starts, gave lower accuracy averaged over T = 1..64 on both bundled ReLU CNNs.

The initial potentials and the spread are fractions of theta, so they scale with it. One pass over the layers
costs one simulation plus len(TUNE_SCALES) per layer, up to len(TUNE_SPREADS) - 1 per layer with a spread and
one per layer for the starts, each of max(timesteps) steps on ``samples`` inputs, on CUDA when torch sees it.
When the starts are calibrated, every run also records the firing rates per channel of the layer being tuned
and of the layers after it (cheap next to the run), so that each layer's shift is fitted to the rates of the run
that won, even where that run comes from an earlier layer's turn.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from tqdm.auto import tqdm

from snnrt.simulate import SpikingNetwork

from ..defaults import TUNE_SAMPLES, TUNE_SCALES, TUNE_SPREADS, TUNE_TIMESTEPS, TUNE_WEIGHT_POWER
from ..errors import CalibrationError
from .potentials import ann_channel_means, shifted_start
from .thresholds import ann_batches


@dataclass
class TuningResult:
    scales: dict  # IF node name -> factor its thresholds were multiplied by
    spreads: dict  # IF node name -> its v_spread, for the layers whose spread was tuned
    starts: dict  # IF node name -> its initial potentials per channel, for the layers whose were calibrated
    error_before: float
    error_after: float
    samples: int
    timesteps: tuple

    def describe(self):
        steps = ",".join(str(t) for t in self.timesteps)
        done = (["thresholds scaled"] + ["membrane spreads picked"] * bool(self.spreads)
                + ["initial potentials calibrated per channel"] * bool(self.starts))
        what = " and ".join([", ".join(done[:-1]), done[-1]]) if len(done) > 1 else done[0]
        return (f"{what}, layer by layer, by simulation on {self.samples} calibration samples, T={steps}: "
                f"output error {self.error_before:.4g} -> {self.error_after:.4g} of the ANN output variance "
                f"(weighted by T^{TUNE_WEIGHT_POWER:g})")


def step_weights(timesteps):
    """The weight of each of ``timesteps`` in the tuning error: T ** TUNE_WEIGHT_POWER, scaled to sum to 1."""
    weights = np.array(timesteps, np.float64) ** TUNE_WEIGHT_POWER
    return (weights / weights.sum()).tolist()


def evenly_spaced(count, samples):
    """Up to ``samples`` indices spread evenly over range(count), so that sorted data gives every class."""
    return np.unique(np.linspace(0, count - 1, min(samples, count)).round().astype(np.int64))


def whole_number(value):
    """Whether ``value`` is an int (a bool is not)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_steps(timesteps, name):
    """Sorted distinct time steps from ``timesteps`` (a positive int or a list or tuple of them); a ValueError that
    names the argument ``name`` otherwise."""
    steps = [timesteps] if whole_number(timesteps) else timesteps
    if not isinstance(steps, (list, tuple)) or not steps or not all(whole_number(t) and t >= 1 for t in steps):
        raise ValueError(f"{name} must be a positive integer or a list of them, got {timesteps!r}")
    return tuple(sorted({int(t) for t in steps}))


def check_tuning(timesteps, samples):
    """(sorted distinct time steps, samples) from ``tune_timesteps`` (an int or a sequence of ints) and
    ``tune_samples``; a ValueError that names the argument otherwise."""
    steps = check_steps(timesteps, "tune_timesteps")
    if not whole_number(samples) or samples < 1:
        raise ValueError(f"tune_samples must be a positive integer, got {samples!r}")
    return steps, int(samples)


def snn_output_in_ann(ann, dropped):
    """The ANN tensor that the SNN's output stands for: its first output, before the dropped final nodes."""
    producers = {out: node for node in ann.graph.node for out in node.output}
    name = ann.graph.output[0].name
    while name in producers and producers[name].name in dropped:
        name = producers[name].input[0]
    return name


def _ann_outputs(ann, name, x, batch_size):
    return np.concatenate([values[0] for values in ann_batches(ann, [name], x, batch_size)])


def _set(layer, theta, fraction):
    """Threshold and initial potential of an IF layer, rounded as onnx2snn.rewrite writes them."""
    layer.v_threshold.copy_(theta)
    layer.v_init.copy_((theta.double() * fraction).float())


def _spreads_to_try(layer):
    return [spread for spread in TUNE_SPREADS if spread != layer.spread]


def tune_thresholds(snn, ann, dropped, layers, data, v_init_fraction, timesteps=TUNE_TIMESTEPS,
                    samples=TUNE_SAMPLES, batch_size=128, progress=False, tune_spreads=False,
                    calibrate_starts=False):
    """Tune the thresholds of the IF nodes named ``layers`` of the SNN ModelProto ``snn`` (module doc), with
    ``tune_spreads`` the spreads of those among them that have one, and with ``calibrate_starts`` their
    initial potentials per channel (onnx2snn.calibrate.potentials).

    ``ann``: the clean ANN it was converted from, with ``dropped`` the names of its final nodes that the SNN
    leaves out (a Softmax); ``data``: calibration inputs (N, ...); ``v_init_fraction``: the initial potential
    as a fraction of theta. Returns a TuningResult; the caller writes the thresholds, spreads and starts into
    the SNN.
    """
    timesteps, samples = check_tuning(timesteps, samples)
    if data is None or len(data) == 0:
        raise CalibrationError("threshold tuning needs calibration data; give --calib")
    x = np.ascontiguousarray(np.asarray(data[evenly_spaced(len(data), samples)], np.float32))
    network = SpikingNetwork(snn)
    reference = torch.from_numpy(_ann_outputs(ann, snn_output_in_ann(ann, dropped), x, batch_size))
    reference = reference.to(network.device).reshape(len(x), -1)
    variance = float(reference.var(unbiased=False)) or 1.0
    weights = step_weights(timesteps)
    neurons = {node.name: layer for node, layer in network.graph.stateful_layers()}
    outputs = {node.name: node.outputs[0] for node, _ in network.graph.stateful_layers()}
    means = ann_channel_means(ann, [outputs[name] for name in layers], x, batch_size) if calibrate_starts else {}

    def trial(record):
        """(error, {IF node name: per-channel rates} of the layers named ``record`` when starts are calibrated,
        else None) of one run."""
        result = network.run(x, timesteps[-1], channel_rates=record if calibrate_starts else False)
        out = result.outputs.reshape(timesteps[-1], len(x), -1)
        value = float(sum(w * ((out[t - 1] - reference) ** 2).mean() for t, w in zip(timesteps, weights))) / variance
        bar.update()
        return value, result.channel_rates

    spread_layers = [name for name in layers if tune_spreads and neurons[name].spread]
    runs = (1 + len(layers) * (len(TUNE_SCALES) + calibrate_starts)
            + sum(len(_spreads_to_try(neurons[name])) for name in spread_layers))
    scales, spreads, starts = {}, {}, {}
    with tqdm(total=runs, desc="tuning", unit="run", disable=not progress, leave=False) as bar:
        best = trial(layers)
        before = best[0]
        for index, name in enumerate(layers):
            layer = neurons[name]
            record = layers[index:]  # a run that wins may be what later layers start from, if they change nothing
            theta = layer.v_threshold.clone()
            trials = {1.0: best}
            for scale in TUNE_SCALES:
                _set(layer, theta * scale, v_init_fraction)
                trials[scale] = trial(record)
            scales[name] = min(trials, key=lambda key: trials[key][0])
            best = trials[scales[name]]
            _set(layer, theta * scales[name], v_init_fraction)
            if name in spread_layers:
                trials = {layer.spread: best}
                for spread in _spreads_to_try(layer):
                    layer.spread = spread
                    trials[spread] = trial(record)
                spreads[name] = layer.spread = min(trials, key=lambda key: trials[key][0])
                best = trials[spreads[name]]
            if calibrate_starts:
                current = layer.v_threshold, layer.v_init
                layer.v_threshold, layer.v_init = shifted_start(*current, means[outputs[name]], best[1][name], timesteps)
                shifted = trial(record)
                if shifted[0] < best[0]:
                    best, starts[name] = shifted, layer.v_init.cpu().numpy()
                else:
                    layer.v_threshold, layer.v_init = current
    return TuningResult(scales, spreads, starts, before, best[0], len(x), timesteps)
