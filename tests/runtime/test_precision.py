"""Full float32 on CUDA (snnrt.precision): TF32 off while a graph runs, the caller's settings back after.

The flags can be set without a GPU, so these tests run on CPU; benchmarks/gpu_check.sh runs the suite on CUDA."""

import contextlib

import pytest
import torch
from onnx import helper

from snnrt import graph as graph_module
from snnrt.precision import full_float32
from tests.conftest import tiny_snn


def _flags():
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


@pytest.fixture
def tf32_on():
    saved = _flags()
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_tf32_is_off_inside_on_cuda_and_back_after(tf32_on):
    with full_float32(torch.device("cuda")):
        assert _flags() == (False, False)
    assert _flags() == (True, True)
    with pytest.raises(RuntimeError), full_float32(torch.device("cuda", 0)):
        raise RuntimeError("a failing run")
    assert _flags() == (True, True)


@pytest.mark.parametrize("device", [torch.device("cpu"), None])
def test_other_devices_leave_the_settings_alone(tf32_on, device):
    with full_float32(device):
        assert _flags() == (True, True)


def test_the_graph_runs_in_the_scope_of_its_input_device(monkeypatch):
    seen = []

    @contextlib.contextmanager
    def record(device):
        seen.append(device)
        yield

    monkeypatch.setattr(graph_module, "full_float32", record)
    module = graph_module.GraphModule(tiny_snn([helper.make_node("Relu", ["s"], ["output"])]))
    module.run(torch.zeros(2, 4))
    assert seen == [torch.device("cpu")]
