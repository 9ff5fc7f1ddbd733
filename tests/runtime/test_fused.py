"""The compiled IF update (snnrt.fused) gives the same spikes and membrane as the eager one."""

import shutil

import pytest
import torch

from snnrt import fused
from snnrt.neuron import IFParameters, count_ones, if_fire, if_initial_state
from snnrt.ops.spiking import IFNeuron

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="torch.compile on CPU needs a C compiler")


def _compare(x, params, steps, constant):
    state = if_initial_state(x if constant else x[: x.shape[0] // steps], params)
    eager_spikes, eager_state = if_fire(x, state, params, steps, constant)
    fused_spikes, fused_state = fused.fused_if_fire(x, state, params, steps, constant)
    assert torch.equal(fused_spikes, eager_spikes)
    assert torch.equal(fused_state.v, eager_state.v)
    assert count_ones(eager_spikes) == int(eager_spikes.count_nonzero()) > 0


def test_blocks_of_time_steps_match_eager_per_channel_subtract(monkeypatch):
    monkeypatch.setattr(fused, "BLOCK", 2)
    generator = torch.Generator().manual_seed(0)
    steps, batch = 5, 3
    x = torch.randn(steps * batch, 4, 5, 5, generator=generator)
    theta = torch.rand(1, 4, 1, 1, generator=generator) + 0.5
    _compare(x, IFParameters(theta, theta / 2, "subtract"), steps, constant=False)


def test_constant_input_zero_reset_matches_eager(monkeypatch):
    monkeypatch.setattr(fused, "BLOCK", 2)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 7, generator=generator)
    _compare(x, IFParameters(torch.tensor(0.8), torch.tensor(0.4), "zero"), 3, constant=True)


def test_if_layer_with_spread_matches_eager_when_fused(monkeypatch):
    monkeypatch.setattr(fused, "BLOCK", 2)
    generator = torch.Generator().manual_seed(2)
    steps, batch = 5, 3
    x = torch.randn(steps * batch, 4, 3, 3, generator=generator)
    layers = [IFNeuron([0.7, 0.9, 1.1, 1.3], [0.35, 0.45, 0.55, 0.65], "subtract", spread=0.75) for _ in range(2)]
    layers[1].kernel = "compiled"
    eager, compiled = (layer.forward_sequence(x, steps) for layer in layers)
    assert torch.equal(compiled, eager) and eager.count_nonzero() > 0
    assert torch.equal(layers[1].state.v, layers[0].state.v)


def test_bundled_cnn_runs_fused_like_eager_within_the_recompile_limit():
    from onnx2snn.load.bundled import bundled_model
    from onnx2snn.convert import convert
    from onnx2snn.data.datasets import mnist5k
    from snnrt.simulate import SpikingNetwork

    x_train, _ = mnist5k("train")
    snn = convert(bundled_model("mnist_cnn_relu"), x_train[:64])
    x = x_train[64:70]
    for steps in (9, 19):  # after the eager first step: one compiled block; two blocks and 2 eager steps
        eager = SpikingNetwork(snn.model, "cpu", order="layer", fused=False).run(x, steps)
        compiled = SpikingNetwork(snn.model, "cpu", order="layer", fused=True).run(x, steps)
        assert compiled.spike_counts == eager.spike_counts
        assert torch.equal(compiled.outputs, eager.outputs)
