"""Which IF layer's threshold repair gains most: each layer in turn with its thresholds (and initial potentials)
times each of the factors of onnx2snn.defaults, the whole SNN run on the first inputs, scored by the share of the
ANN's predictions it agrees with, mean over the asked T up to DIAGNOSE_REPAIR_MAX_T. The layer is measured in the
SNN's context: a repair also corrects error that the layer receives from upstream, which no figure of the layer
alone sees.
"""

import numpy as np
import torch

from snnrt.simulate import SpikingNetwork

from ..defaults import DIAGNOSE_REPAIR_FACTORS, DIAGNOSE_REPAIR_MAX_T
from .diagnose_sites import scaled_threshold


def repair_timesteps(timesteps):
    """The asked T that the trials score: those up to DIAGNOSE_REPAIR_MAX_T, or the smallest asked."""
    return [t for t in timesteps if t <= DIAGNOSE_REPAIR_MAX_T] or timesteps[:1]


def try_repairs(snn, names, x, ann_predictions, timesteps, batch_size, device, order):
    """{IF node name: (factor, gain)}: the factor of DIAGNOSE_REPAIR_FACTORS whose repair agrees most with the ANN's
    predictions on inputs x (None where none beats the SNN as it is), and its gain in agreement (points, 0 where
    none)."""
    def agreement(model):
        network = SpikingNetwork(model, device, order)
        agree = []
        for start in range(0, len(x), batch_size):
            result = network.run(x[start : start + batch_size], timesteps[-1], keep=timesteps)
            target = torch.as_tensor(ann_predictions[start : start + batch_size], device=network.device)
            agree.append((result.predictions() == target).double().sum(1).cpu().numpy())
        return float(np.sum(agree, 0).mean() / len(x))

    base = agreement(snn)
    found = {}
    for name in names:
        tried = {factor: agreement(scaled_threshold(snn, name, factor)) for factor in DIAGNOSE_REPAIR_FACTORS}
        factor = max(tried, key=tried.get)
        found[name] = (factor, 100 * (tried[factor] - base)) if tried[factor] > base else (None, 0.0)
    return found
