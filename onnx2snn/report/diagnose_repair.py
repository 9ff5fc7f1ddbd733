"""Which IF layer's threshold repair gains most: each layer in turn with its thresholds (and initial potentials)
times each of the factors of onnx2snn.defaults, the SNN run on the first inputs, scored by the share of the
ANN's predictions it agrees with, mean over the asked T up to DIAGNOSE_REPAIR_MAX_T. The layer is measured in the
SNN's context: a repair also corrects error that the layer receives from upstream, which no figure of the layer
alone sees.

A repair changes nothing upstream of its layer, so the SNN runs whole once per chunk of inputs (the unrepaired
score), keeping the values that the nodes downstream of any IF layer read from the nodes before it
(onnx2snn.report.diagnose_cut); each trial then reruns only the nodes that its layer reaches, on those kept
values, with the layer's thresholds changed in place. The chunks hold as many inputs as those values fit in
DIAGNOSE_REPAIR_MEMORY.
"""

import numpy as np
import onnx
import torch

from snnrt.simulate import SpikingNetwork
from snnrt.validate import if_attributes

from ..defaults import DIAGNOSE_REPAIR_FACTORS, DIAGNOSE_REPAIR_MAX_T, DIAGNOSE_REPAIR_MEMORY
from .diagnose_cut import Cut, KeptValues
from .diagnose_sites import scale_if_node


def repair_timesteps(timesteps):
    """The asked T that the trials score: those up to DIAGNOSE_REPAIR_MAX_T, or the smallest asked."""
    return [t for t in timesteps if t <= DIAGNOSE_REPAIR_MAX_T] or timesteps[:1]


def try_repairs(snn, names, x, ann_predictions, timesteps, batch_size, device, order):
    """{IF node name: (factor, gain)}: the factor of DIAGNOSE_REPAIR_FACTORS whose repair agrees most with the ANN's
    predictions on inputs x (None where none beats the SNN as it is), and its gain in agreement (points, 0 where
    none). Inputs run in chunks of at most ``batch_size``."""
    network = SpikingNetwork(snn, device, order)
    cuts = [Cut(network.graph, name) for name in names]
    kept = KeptValues(network, {name for cut in cuts for name in cut.reads}, timesteps[-1])
    chunk = max(1, min(batch_size, DIAGNOSE_REPAIR_MEMORY // kept.bytes_per_sample(x)))
    base = np.zeros(len(timesteps))
    agree = {(cut.name, factor): np.zeros(len(timesteps)) for cut in cuts for factor in DIAGNOSE_REPAIR_FACTORS}
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        target = torch.as_tensor(ann_predictions[start : start + chunk], device=network.device)
        result = network.run(part, timesteps[-1], keep=timesteps, observe=kept.recorders(len(part)))
        unrepaired = _agreeing(result, target)
        base += unrepaired
        for cut in cuts:
            for factor in DIAGNOSE_REPAIR_FACTORS:
                agree[cut.name, factor] += (_agreeing(cut.rerun(network, part, kept, timesteps, _scaled(cut, factor)),
                                                      target) if cut.reaches_output else unrepaired)
    found = {}
    for cut in cuts:
        tried = {factor: _share(agree[cut.name, factor], len(x)) for factor in DIAGNOSE_REPAIR_FACTORS}
        factor = max(tried, key=tried.get)
        gain = tried[factor] - _share(base, len(x))
        found[cut.name] = (factor, 100 * gain) if gain > 0 else (None, 0.0)
    return found


def _agreeing(result, target):
    """Per asked T, how many of the run's predictions agree with the ANN's."""
    return (result.predictions() == target).double().sum(1).cpu().numpy()


def _share(agreeing, samples):
    """The share of predictions that agree, mean over the asked T."""
    return float(agreeing.mean() / samples)


def _scaled(cut, factor):
    """The thresholds and initial potentials of the cut's IF node times ``factor``, as float32 arrays, exactly as
    the node's attributes scaled (onnx2snn.report.diagnose_sites.scaled_threshold) convert."""
    node = onnx.NodeProto()
    node.CopyFrom(cut.node.proto)
    scale_if_node(node, factor)
    attrs = if_attributes(node)
    return attrs.threshold, attrs.v_init
