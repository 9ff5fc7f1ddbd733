"""SignedIFNeuron (snnrt.contract): signed spikes of several sizes where a real value feeds a weight layer."""

import numpy as np
import torch

from .. import contract, cpu_fused, cpu_signed
from ..registry import register
from ..cpu_signed import signed_fire_fused
from ..signed_neuron import signed_fire
from ..validate import signed_attributes
from .spiking import SpikingLayer, channel_shape


class SignedIFNeuron(SpikingLayer):
    """Signed multi-level IF neurons with thresholds and starts per layer or per channel. Every nonzero output is
    one spike (of one level) in the statistics. The thresholds are the buffer ``theta``, not ``v_threshold``:
    the tools that fit IF layers (onnx2snn.calibrate.layerwise, onnx2snn.calibrate.tune) leave these neurons
    alone. ``kernel`` as for IFNeuron: "numba" runs snnrt.cpu_signed where it accepts the input and loading it pays
    (cpu_signed.pays), anything else the eager update."""

    def __init__(self, v_threshold, v_init, levels, channel_axis=1, name=""):
        super().__init__()
        self.name = name
        self.levels = int(levels)
        self.channel_axis = channel_axis
        self.kernel = "eager"
        self.register_buffer("theta", torch.as_tensor(np.asarray(v_threshold, np.float32)))
        self.register_buffer("start", torch.as_tensor(np.asarray(v_init, np.float32)))

    def reset_membrane(self):
        self.v = None

    def _shaped(self, x):
        """theta and the start shaped to broadcast against x along the channel axis."""
        shape = channel_shape(x, self.theta.numel(), self.channel_axis, self.name, contract.SIGNED_IF_OP)
        return self.theta.reshape(shape).to(x.dtype), self.start.reshape(shape).to(x.dtype)

    def forward_sequence(self, x, steps, constant_in_time=False, into_input=False):
        theta, start = self._shaped(x)
        if self.v is None:
            batch = x.shape[0] if constant_in_time else x.shape[0] // steps
            self.v = torch.empty_like(x[:batch]).copy_(start.expand_as(x[:batch]))
        fusable = self.kernel == "numba" and cpu_signed.accepts(x, self.v)
        if fusable and cpu_signed.pays():
            spikes = signed_fire_fused(x, self.v, theta, self.levels, steps, constant_in_time)
        else:
            with cpu_fused.timed_eager(fusable):
                spikes = signed_fire(x, self.v, theta, self.levels, steps, constant_in_time)
        self._count(spikes)
        return spikes


@register(contract.SIGNED_IF_OP, 1, domain=contract.DOMAIN)
def convert_signed_if_neuron(node):
    attrs = signed_attributes(node.proto)
    return SignedIFNeuron(attrs.threshold, attrs.v_init, attrs.levels, attrs.channel_axis, node.name)
