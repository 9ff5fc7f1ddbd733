"""Potential calibration: per-channel initial membrane potentials that cancel an IF layer's mean error.

Every neuron of a channel starts at the same potential, so the channel's spikes can fall short of (or exceed)
the ANN's activations on average, and the next layer sums that bias over its whole fan-in. After Li et al.
("A Free Lunch From ANN: Towards Efficient, Accurate Spiking Neural Networks Calibration", ICML 2021,
potential calibration), the tuner (onnx2snn.calibrate.tune) measures, for each channel c and each tuned T, the error of
the layer's output averaged over steps 1..T, as a mean over calibration samples and positions::

    e_T[c] = mean ANN activation[c] - theta[c] * (spikes per neuron in steps 1..T)[c] / T

Starting the membranes higher by d adds about d / T to that average (d / theta more spikes in T steps), so
the shift is the least-squares fit of e_T = d / T over the tuned T's, d = sum(e_T / T) / sum(1 / T^2), and the
start v_init[c] + d is kept within [0, theta[c]]. The fit weighs the small T's most, where a start matters;
at large T the shift adds little. The tuner keeps the shifted starts only where they lower its error.
"""

import numpy as np
import torch

from .thresholds import ann_batches, channel_rows


def ann_channel_means(ann, names, x, batch_size):
    """{name: the mean of the ANN tensor ``name`` over samples and positions, per channel (axis 1)} on x."""
    sums, counts = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0)
    for values in ann_batches(ann, names, x, batch_size):
        for name, value in zip(names, values):
            rows = channel_rows(value, per_channel=True)
            sums[name] = sums[name] + rows.astype(np.float64).sum(axis=1)
            counts[name] += rows.shape[1]
    return {name: sums[name] / counts[name] for name in names}


def shifted_start(theta, v_init, ann_mean, rates, timesteps):
    """(thresholds, initial potentials) per channel, the potentials shifted by the fitted d (module doc).

    ``theta`` and ``v_init``: the layer's values (one, or one per channel); ``ann_mean``: the ANN's mean
    activation per channel; ``rates``: the layer's firing rate per channel at every step, (steps, channels).
    """
    channels = rates.shape[1]
    theta = theta.reshape(-1).expand(channels).clone()
    v_init = v_init.reshape(-1).expand(channels).clone()
    steps = torch.arange(1, len(rates) + 1, device=rates.device, dtype=torch.float64)
    averaged = torch.cumsum(rates.double(), dim=0) / steps[:, None] * theta.double()
    index = torch.tensor([t - 1 for t in timesteps], device=rates.device)
    errors = torch.as_tensor(ann_mean, device=rates.device)[None] - averaged[index]
    fit = steps[index][:, None]
    shift = (errors / fit).sum(dim=0) / (1 / fit**2).sum()
    return theta, torch.minimum(torch.clamp(v_init.double() + shift, min=0.0), theta.double()).float()
