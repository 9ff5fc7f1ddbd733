"""Threshold tuning by simulation: scale each IF layer's thresholds so that the SNN follows the ANN.

A statistic (mse, max, percentile) picks each layer's thresholds from that layer's activations alone. It cannot
see how the layer's rounding and clipping errors travel through the layers after it. Tuning runs the converted
SNN itself, on calibration inputs and with the ANN's outputs as the reference (no labels).

For each tuned IF layer in graph order, it tries the layer's thresholds times each factor in SCALES and keeps
the factor (1 included) with the smallest error::

    mean over T in timesteps of  mean((SNN output averaged over steps 1..T - ANN output)^2) / var(ANN output)

The arithmetic mean over T favours the smallest T, whose errors are the largest; a geometric mean (the same weight
for a relative gain at every T) gave lower accuracy averaged over T = 1..64 on both bundled ReLU CNNs.

The initial potentials and the spread are fractions of theta, so they scale with it. One pass over the
layers costs one simulation plus len(SCALES) per layer, each of max(timesteps) steps on ``samples`` inputs.
"""

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from snnrt.simulate import SpikingNetwork

from .calibrate import ann_session
from .defaults import TUNE_SAMPLES, TUNE_TIMESTEPS
from .errors import CalibrationError

SCALES = (0.7, 0.85, 1.2, 1.45, 1.75, 2.1)


@dataclass
class TuningResult:
    scales: dict  # IF node name -> factor its thresholds were multiplied by
    error_before: float
    error_after: float
    samples: int
    timesteps: tuple

    def describe(self):
        steps = ",".join(str(t) for t in self.timesteps)
        return (f"thresholds scaled per layer by simulation on {self.samples} calibration samples, T={steps}: "
                f"output error {self.error_before:.4g} -> {self.error_after:.4g} of the ANN output variance")


def evenly_spaced(count, samples):
    """Up to ``samples`` indices spread evenly over range(count), so that sorted data gives every class."""
    return np.unique(np.linspace(0, count - 1, min(samples, count)).round().astype(np.int64))


def check_tuning(timesteps, samples):
    """Validated (sorted timesteps, samples); ValueError naming the bad argument."""
    steps = tuple(sorted({int(t) for t in timesteps}))
    if not steps or steps[0] < 1:
        raise ValueError(f"tuning time steps must be positive integers, got {list(timesteps)}")
    if int(samples) < 1:
        raise ValueError(f"tuning samples must be at least 1, got {samples}")
    return steps, int(samples)


def tune_thresholds(snn, ann, reference_output, layers, data, timesteps=TUNE_TIMESTEPS, samples=TUNE_SAMPLES,
                    device="auto", progress=False):
    """Tune the thresholds of the IF nodes named ``layers`` of the SNN ModelProto ``snn`` (module doc).

    ``ann``: the clean ANN it was converted from; ``reference_output``: the ANN tensor that the SNN's output
    stands for (before a dropped Softmax). ``data``: calibration inputs (N, ...). Returns a TuningResult; the
    caller writes the scaled thresholds into the SNN.
    """
    timesteps, samples = check_tuning(timesteps, samples)
    if data is None or len(data) == 0:
        raise CalibrationError("threshold tuning needs calibration data; give --calib")
    x = np.ascontiguousarray(np.asarray(data, np.float32)[evenly_spaced(len(data), samples)])
    session = ann_session(ann, [reference_output])
    reference = torch.from_numpy(session.run([reference_output], {session.get_inputs()[0].name: x})[0])
    network = SpikingNetwork(snn, device)
    reference = reference.to(network.device).reshape(len(x), -1)
    variance = float(reference.var()) or 1.0
    neurons = {node.name: layer for node, layer in network.graph.stateful_layers()}

    def error():
        outputs = network.run(x, timesteps[-1]).outputs.reshape(timesteps[-1], len(x), -1)
        return float(sum(((outputs[t - 1] - reference) ** 2).mean() for t in timesteps)) / len(timesteps) / variance

    bar = tqdm(total=1 + len(layers) * len(SCALES), desc="tuning thresholds", unit="run", disable=not progress,
               leave=False)
    best = before = error()
    bar.update()
    scales = {}
    for name in layers:
        layer = neurons[name]
        theta, v_init = layer.v_threshold.clone(), layer.v_init.clone()
        errors = {1.0: best}
        for scale in SCALES:
            layer.v_threshold.copy_(theta * scale)
            layer.v_init.copy_(v_init * scale)
            errors[scale] = error()
            bar.update()
        scales[name] = min(errors, key=errors.get)
        best = errors[scales[name]]
        layer.v_threshold.copy_(theta * scales[name])
        layer.v_init.copy_(v_init * scales[name])
    bar.close()
    return TuningResult(scales, before, best, len(x), timesteps)
