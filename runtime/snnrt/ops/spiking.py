"""The stateful spiking ops of onnx2snn's domain (see snnrt.contract)."""

import numpy as np
import torch

from .. import contract, cpu_fused
from ..fused import fused_if_fire
from ..neuron import IFParameters, count_ones, if_fire, if_initial_state, sum_ones
from ..registry import register
from ..validate import check_channels, if_attributes
from .pool import max_pool_fn


class SpikingLayer(torch.nn.Module):
    """A layer with state across time steps; counts its output spikes for statistics.

    ``forward_sequence(x, steps, constant_in_time, into_input)`` advances ``steps`` steps at once on an input
    with time folded into the batch, (steps * N, ...) with time outermost, and returns the output in the same
    layout; with ``into_input`` the caller does not read x again, and the output may overwrite it (snnrt.graph
    says so where no other value shares x's memory). ``forward(x)`` is one step.
    """

    def __init__(self):
        super().__init__()
        self.reset_state()

    def reset_state(self):
        """Forget the state and the spike statistics (call before each new input)."""
        self.reset_membrane()
        self.spikes = 0
        self.sample_steps = 0
        self.neurons = 0

    def reset_membrane(self):
        """Forget the state but keep the statistics (between batches of one evaluation)."""

    def forward(self, x):
        return self.forward_sequence(x, 1)

    def _count(self, out, spikes=None):
        """Add the spikes of ``out`` (or their given count) to the statistics; counts stay on the device."""
        self.spikes = self.spikes + (torch.count_nonzero(out) if spikes is None else spikes)
        self.sample_steps += out.shape[0]
        self.neurons = out[0].numel()

    def firing_rate(self):
        """Mean spikes per neuron per step per sample since the last reset."""
        if not self.sample_steps:
            return 0.0
        return float(self.spikes) / (self.sample_steps * self.neurons)


def channel_shape(x, count, channel_axis, name, op_type):
    """The shape that a neuron layer's ``count`` thresholds (one, or one per channel along ``channel_axis``) take
    to broadcast against its input x; InvalidSnnError naming node ``name`` where they do not fit."""
    shape = [1] * x.dim()
    if count > 1:
        axis = channel_axis % x.dim()
        check_channels(name, count, x.shape[axis], op_type)
        shape[axis] = -1
    return shape


class IFNeuron(SpikingLayer):
    """IF neurons with threshold and initial potential per layer or per channel (see snnrt.neuron); with
    ``spread`` > 0 the potentials are spread over the neurons after the first step (snnrt.contract).

    ``kernel`` picks the update, with the same results: "eager" (snnrt.neuron), "compiled" (torch.compile,
    snnrt.fused) or "numba" (snnrt.cpu_fused, for float32 on the CPU once loading the kernel pays, cpu_fused.pays;
    before that, and for recording channel rates, other inputs or a missing numba, the eager update).
    snnrt.simulate.pick_kernel sets it per device.
    """

    def __init__(self, v_threshold, v_init, reset, channel_axis=1, spread=0.0, name=""):
        if reset not in contract.RESET_MODES:
            raise NotImplementedError(f"reset mode {reset!r}; expected one of {contract.RESET_MODES}")
        if not 0.0 <= spread <= 1.0:
            raise ValueError(f"{contract.ATTR_SPREAD} must be in [0, 1], got {spread}")
        super().__init__()
        self.name = name
        self.reset = reset
        self.channel_axis = channel_axis
        self.spread = float(spread)
        self.kernel = "eager"
        self.record_channels = False
        self.register_buffer("v_threshold", torch.as_tensor(np.asarray(v_threshold, np.float32)))
        self.register_buffer("v_init", torch.as_tensor(np.asarray(v_init, np.float32)))

    def reset_state(self):
        super().reset_state()
        self.channel_counts = None

    def reset_membrane(self):
        self.state = None
        self.step = 0

    def _record(self, fired, steps):
        """Add each channel's spikes at each step (summed over samples and positions) to ``channel_counts``, a
        (steps, channels) tensor; a new chunk of samples (reset_membrane) starts again at step 0."""
        per_step = fired.reshape(steps, -1, *fired.shape[1:])
        per_step = per_step.movedim(self.channel_axis % fired.dim() + 1, 2) if fired.dim() > 1 else per_step[..., None]
        positions = per_step.reshape(*per_step.shape[:3], -1)  # (steps, samples, channels, positions)
        counts = sum_ones(positions).sum(1, dtype=torch.float64)
        end = self.step + steps
        if self.channel_counts is None:
            self.channel_counts = counts.new_zeros((0, counts.shape[1]))
        if len(self.channel_counts) < end:  # the first chunk of samples: one row per step as it comes
            self.channel_counts = torch.cat([self.channel_counts, counts.new_zeros((end - len(self.channel_counts),
                                                                                    counts.shape[1]))])
        self.channel_counts[self.step : end] += counts
        self.step = end

    def _shift(self, params, shape):
        """What v_spread adds to v after the first step, for neurons of ``shape`` (snnrt.contract)."""
        offsets = torch.from_numpy(contract.spread_offsets(tuple(shape))).to(params.v_threshold.device)
        return self.spread * params.v_threshold * offsets

    def _params(self, x):
        shape = channel_shape(x, self.v_threshold.numel(), self.channel_axis, self.name, contract.IF_OP)
        return IFParameters(self.v_threshold.reshape(shape), self.v_init.reshape(shape), self.reset)

    def forward_sequence(self, x, steps, constant_in_time=False, into_input=False):
        params = self._params(x)
        shift = None
        if self.state is None:
            batch = x.shape[0] if constant_in_time else x.shape[0] // steps
            self.state = if_initial_state(x[:batch], params)
            shift = self._shift(params, x.shape[1:]) if self.spread else None
        fusable = self.kernel == "numba" and not self.record_channels and cpu_fused.accepts(x, self.state)
        if fusable and cpu_fused.pays():
            spikes, self.state, count = cpu_fused.fire_in_place(x, self.state, params, steps, constant_in_time, shift,
                                                                into_input)
            self._count(spikes, count)
            return spikes
        with cpu_fused.timed_eager(fusable):
            if self.kernel == "compiled":
                fired, self.state = fused_if_fire(x, self.state, params, steps, constant_in_time, shift)
            else:
                fired, self.state = if_fire(x, self.state, params, steps, constant_in_time, shift, into_input)
            self._count(fired, count_ones(fired))
            if self.record_channels:
                self._record(fired, steps)
            return fired.mul_(params.v_threshold)


class SpikeMaxPool(SpikingLayer):
    """Max pooling of cumulative spike counts, emitted as the step-to-step difference (values 0 or theta)."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def reset_membrane(self):
        self.total = None
        self.previous = None

    def forward_sequence(self, s, steps, constant_in_time=False, into_input=False):
        if constant_in_time:
            s = s.expand(steps, *s.shape).flatten(0, 1)
        s = s.reshape(steps, -1, *s.shape[1:])
        totals = s if into_input and not constant_in_time and s.is_contiguous() else torch.empty_like(s)
        for t in range(steps):  # running sums in step order: cumsum may add in another order
            if self.total is None:
                totals[t] = s[t]
            else:
                torch.add(self.total, s[t], out=totals[t])
            self.total = totals[t]
        pooled = self.pool(totals.flatten(0, 1))
        pooled = pooled.reshape(steps, -1, *pooled.shape[1:])
        out = torch.diff(pooled, dim=0, prepend=(torch.zeros_like(pooled[:1]) if self.previous is None
                                                 else self.previous[None]))
        self.previous = pooled[-1]
        out = out.flatten(0, 1)
        self._count(out)
        return out


@register(contract.IF_OP, 1, domain=contract.DOMAIN)
def convert_if_neuron(node):
    attrs = if_attributes(node.proto)
    return IFNeuron(attrs.threshold, attrs.v_init, attrs.reset, attrs.channel_axis, attrs.spread, node.name)


@register(contract.MAXPOOL_OP, 1, domain=contract.DOMAIN)
def convert_spike_max_pool(node):
    return SpikeMaxPool(max_pool_fn(node))
