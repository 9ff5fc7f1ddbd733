"""The stateful spiking ops of onnx2snn's domain (see snnrt.contract)."""

import numpy as np
import torch

from .. import contract
from ..neuron import IFParameters, if_initial_state, if_step
from ..registry import register
from .pool import max_pool_fn


class SpikingLayer(torch.nn.Module):
    """A layer with state across time steps; counts its output spikes for statistics."""

    def __init__(self):
        super().__init__()
        self.reset_state()

    def reset_state(self):
        """Forget the state and the spike statistics (call before each new input)."""
        self.spikes = None
        self.steps = 0
        self.neurons = 0

    def _count(self, out):
        count = torch.count_nonzero(out)
        self.spikes = count if self.spikes is None else self.spikes + count
        self.steps += 1
        self.batch = out.shape[0]
        self.neurons = out[0].numel()

    def firing_rate(self):
        """Mean spikes per neuron per step per sample since the last reset."""
        if not self.steps:
            return 0.0
        return float(self.spikes) / (self.steps * self.neurons * self.batch)


class IFNeuron(SpikingLayer):
    """IF neurons with threshold and initial potential per layer or per channel (see snnrt.neuron)."""

    def __init__(self, v_threshold, v_init, reset, channel_axis=1):
        if reset not in contract.RESET_MODES:
            raise NotImplementedError(f"reset mode {reset!r}; expected one of {contract.RESET_MODES}")
        super().__init__()
        self.reset = reset
        self.channel_axis = channel_axis
        self.register_buffer("v_threshold", torch.as_tensor(np.asarray(v_threshold, np.float32)))
        self.register_buffer("v_init", torch.as_tensor(np.asarray(v_init, np.float32)))

    def reset_state(self):
        super().reset_state()
        self.state = None

    def _params(self, x):
        shape = [1] * x.dim()
        if self.v_threshold.numel() > 1:
            shape[self.channel_axis % x.dim()] = -1
        return IFParameters(self.v_threshold.reshape(shape), self.v_init.reshape(shape), self.reset)

    def forward(self, x):
        params = self._params(x)
        if self.state is None:
            self.state = if_initial_state(x, params)
        spikes, self.state = if_step(x, self.state, params)
        self._count(spikes)
        return spikes


class SpikeMaxPool(SpikingLayer):
    """Max pooling of cumulative spike counts, emitted as the step-to-step difference (values 0 or theta)."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def reset_state(self):
        super().reset_state()
        self.total = None
        self.previous = None

    def forward(self, s):
        self.total = s.clone() if self.total is None else self.total + s
        pooled = self.pool(self.total)
        out = pooled if self.previous is None else pooled - self.previous
        self.previous = pooled
        self._count(out)
        return out


@register(contract.IF_OP, 1, domain=contract.DOMAIN)
def convert_if_neuron(node):
    threshold = node.attr(contract.ATTR_THRESHOLD)
    v_init = node.attr(contract.ATTR_V_INIT)
    if threshold is None or v_init is None:
        raise NotImplementedError(f"{contract.IF_OP} needs {contract.ATTR_THRESHOLD} and {contract.ATTR_V_INIT}")
    return IFNeuron(
        threshold,
        v_init,
        node.attr(contract.ATTR_RESET, contract.RESET_SUBTRACT),
        node.attr(contract.ATTR_CHANNEL_AXIS, 1),
    )


@register(contract.MAXPOOL_OP, 1, domain=contract.DOMAIN)
def convert_spike_max_pool(node):
    return SpikeMaxPool(max_pool_fn(node))
