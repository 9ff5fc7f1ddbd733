"""The numba IF update (snnrt.cpu_fused) gives bit-identical spikes, membranes and counts to the eager one, and a
process loads it only once its eager IF updates have taken long enough to repay the load."""

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from snnrt import cpu_fused
from snnrt.neuron import IFParameters, if_initial_state, if_sequence
from snnrt.ops.spiking import IFNeuron
from snnrt.simulate import SpikingNetwork, pick_kernel

pytestmark = pytest.mark.skipif(not cpu_fused.available(), reason="numba is not installed")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _loaded():
    """The kernel loaded, so that a layer whose kernel is "numba" runs it whatever its work (cpu_fused.pays)."""
    cpu_fused.load()


@pytest.fixture(scope="module")
def cnn():
    """(the bundled MNIST CNN converted on 64 images, 16 other images)."""
    from onnx2snn.convert import convert
    from onnx2snn.data.datasets import mnist5k
    from onnx2snn.load.bundled import bundled_model

    x_train, _ = mnist5k("train")
    return convert(bundled_model("mnist_cnn_relu"), x_train[:64]), x_train[64:80]


def _compare(x, params, steps, constant):
    """The kernel against eager, writing its spikes to new memory and into the input's (into_input)."""
    state = if_initial_state(x if constant else x[: x.shape[0] // steps], params)
    eager_spikes, eager_state = if_sequence(x, state, params, steps, constant)
    for into_input in (False, True):
        currents = x.clone()
        spikes, fused_state, count = cpu_fused.fire_in_place(currents, if_initial_state(x[: state.v.shape[0]], params),
                                                             params, steps, constant, into_input=into_input)
        assert torch.equal(spikes, eager_spikes)
        torch.testing.assert_close(fused_state.v, eager_state.v, rtol=0, atol=0, equal_nan=True)
        assert count == int(eager_spikes.count_nonzero()) > 0
        overwrote = spikes.data_ptr() == currents.data_ptr()
        assert overwrote == (into_input and not constant)  # a current used at every step is never overwritten
        if not overwrote:
            torch.testing.assert_close(currents, x, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("constant", [False, True])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_per_channel_thresholds_over_several_tiles_match_eager(reset, constant, memory_format):
    generator = torch.Generator().manual_seed(0)
    steps, batch = 5, 3
    shape = (batch if constant else steps * batch, 3, 50, 31)  # 4650 neurons a sample: full tiles and a part
    assert 4650 > cpu_fused.TILE and 4650 % cpu_fused.TILE
    x = (torch.randn(shape, generator=generator) * 0.6 + 0.2).contiguous(memory_format=memory_format)
    theta = torch.rand(1, 3, 1, 1, generator=generator) + 0.5
    _compare(x, IFParameters(theta, theta / 2, reset), steps, constant)


def test_channels_last_currents_give_channels_last_spikes_and_membranes_as_contiguous_ones():
    """The CPU's convolutions on large maps return channels-last currents (snnrt.ops.conv): the kernel reads them
    in place and fires as it does on the same values laid out contiguously."""
    generator = torch.Generator().manual_seed(2)
    steps, batch = 4, 2
    x = torch.randn(steps * batch, 5, 6, 7, generator=generator)
    theta = torch.rand(1, 5, 1, 1, generator=generator) + 0.5
    params = IFParameters(theta, theta / 2, "subtract")
    shift = torch.rand(1, 5, 6, 7, generator=generator) * 0.1
    results = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        currents = x.clone(memory_format=memory_format)  # a copy: the spikes overwrite it
        state = if_initial_state(currents[:batch], params)
        spikes, state, count = cpu_fused.fire_in_place(currents, state, params, steps, shift=shift, into_input=True)
        assert spikes.data_ptr() == currents.data_ptr()  # fired into the currents' memory, layout kept
        assert spikes.is_contiguous(memory_format=memory_format) and state.v.is_contiguous(memory_format=memory_format)
        results.append((spikes, state.v, count))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2] > 0


def test_potentials_that_land_exactly_on_the_threshold_fire_as_in_eager():
    generator = torch.Generator().manual_seed(4)
    steps, batch = 6, 4
    x = torch.round(torch.randn(steps * batch, 2, 5, generator=generator) * 4) / 8  # multiples of 1/8: exact sums
    theta = torch.tensor([0.5, 0.75]).reshape(1, 2, 1)
    params = IFParameters(theta, theta / 2, "subtract")
    state = if_initial_state(x[:batch], params)
    assert (state.v + x[:batch] == theta).any()  # the first step alone already has potentials equal to theta
    _compare(x, params, steps, constant=False)


def test_one_threshold_one_step_and_nan_inputs_match_eager():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 7, generator=generator)
    x[1, 2] = float("nan")
    _compare(x, IFParameters(torch.full((1, 1), 0.8), torch.full((1, 1), 0.4), "subtract"), 1, constant=False)


def _layers(**options):
    return [IFNeuron([0.7, 0.9, 1.1, 1.3], [0.35, 0.45, 0.55, 0.65], "subtract", **options) for _ in range(2)]


def test_if_layer_with_spread_in_two_chunks_matches_eager():
    generator = torch.Generator().manual_seed(2)
    steps, batch = 5, 3
    layers = _layers(spread=0.75)
    layers[1].kernel = "numba"
    for _ in range(2):  # the first chunk adds the spread after its first step; the second carries the membrane
        x = torch.randn(steps * batch, 4, 3, 3, generator=generator)
        eager, fused = (layer.forward_sequence(x, steps) for layer in layers)
        assert torch.equal(fused, eager) and eager.count_nonzero() > 0
        assert torch.equal(layers[1].state.v, layers[0].state.v)
    assert layers[1].spikes == layers[0].spikes and layers[1].firing_rate() == layers[0].firing_rate()


def test_other_inputs_and_channel_recording_fall_back_to_eager():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(6, 4, 2, 2, generator=generator, dtype=torch.float64)
    layers = _layers()
    layers[1].kernel = "numba"
    assert not cpu_fused.accepts(x, if_initial_state(x[:2], layers[1]._params(x)))
    assert torch.equal(layers[1].forward_sequence(x, 3), layers[0].forward_sequence(x, 3))
    x = x.float()
    for layer in layers:
        layer.reset_state()
        layer.record_channels = True
    assert torch.equal(layers[1].forward_sequence(x, 3), layers[0].forward_sequence(x, 3))
    assert torch.equal(layers[1].channel_counts, layers[0].channel_counts)


def test_the_cpu_default_is_numba_where_installed(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert [pick_kernel(cpu), pick_kernel(cpu, True), pick_kernel(cpu, False)] == ["numba", "compiled", "eager"]
    assert [pick_kernel(cuda), pick_kernel(cuda, False)] == ["compiled", "eager"]
    monkeypatch.setattr(cpu_fused, "available", lambda: False)
    assert pick_kernel(cpu) == "eager"


@pytest.mark.parametrize("order", ["step", "layer"])
def test_bundled_cnn_gives_the_eager_results(order, cnn):
    snn, x = cnn
    network = SpikingNetwork(snn.model, "cpu", order=order)
    assert network.kernel == "numba"
    fused = network.run(x, 12)
    eager = SpikingNetwork(snn.model, "cpu", order=order, fused=False).run(x, 12)
    assert fused.spike_counts == eager.spike_counts
    assert torch.equal(fused.outputs, eager.outputs)


def test_the_kernel_pays_once_loaded_or_after_load_after_seconds_of_eager_updates_it_could_run(monkeypatch):
    unloaded = functools.cache(lambda: None)
    monkeypatch.setattr(cpu_fused, "_eager_seconds", 0.0)
    monkeypatch.setattr(cpu_fused, "LOAD_AFTER", 0.05)
    with cpu_fused.timed_eager(False):  # an update that the kernel could not have run
        time.sleep(0.06)
    assert not cpu_fused.pays(unloaded)
    with cpu_fused.timed_eager(True):
        time.sleep(0.06)
    assert cpu_fused.pays(unloaded) and cpu_fused.pays()


SWITCH = """
import json, sys
import numpy as np, torch
from snnrt import cpu_fused
from snnrt.simulate import SpikingNetwork
from onnx2snn.load.model import load_model

model, x = load_model(sys.argv[1]), np.load(sys.argv[2])
eager = SpikingNetwork(model, "cpu", fused=False).run(x, 12)
cpu_fused.LOAD_AFTER = float(sys.argv[3])
result = SpikingNetwork(model, "cpu").run(x, 12)
print(json.dumps({"numba": "numba" in sys.modules, "eager seconds": cpu_fused._eager_seconds,
                  "same": torch.equal(result.outputs, eager.outputs) and result.spike_counts == eager.spike_counts}))
"""


@pytest.mark.parametrize("load_after", [float("inf"), 1e-9])
def test_a_fresh_process_runs_eagerly_until_loading_pays_then_gives_the_same_results(cnn, tmp_path, load_after):
    snn, x = cnn
    snn.save(tmp_path / "snn.onnx")
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime"),
                                                        os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", SWITCH, str(tmp_path / "snn.onnx"), str(tmp_path / "x.npy"),
                          str(load_after)], capture_output=True, text=True, env=env, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["same"] and found["eager seconds"] > 0  # the first IF update ran eagerly either way
    assert found["numba"] == (load_after < 1)  # loaded after it: the rest of the run took the kernel
