"""The NIR export of every bundled model without max pooling loads in released snnTorch (import_from_nir as
published, no patched importer) and, with the few lines of docs/exports.md that replace its IF mapping, computes
what the onnx2snn runtime computes."""

import warnings

import nir
import numpy as np
import onnx
import pytest
import torch

from onnx2snn.convert import convert
from onnx2snn.data.datasets import load_builtin
from onnx2snn.export.nir_graph import NirSemanticsWarning, export_nir, write_nir
from onnx2snn.load.bundled import MODELS_DIR
from snnrt.simulate import SpikingNetwork

snn = pytest.importorskip("snntorch")
from snntorch.import_nir import import_from_nir  # noqa: E402

STEPS = 8


def _without_max_pooling():
    names = []
    for path in sorted(MODELS_DIR.glob("*.onnx")):
        if not any("MaxPool" in node.op_type for node in onnx.load(path).graph.node):
            names.append(path.stem)
    return names


def _data(path):
    """Training and test inputs of the data set the bundled model was trained on (its input rank tells)."""
    rank = len(onnx.load(path).graph.input[0].type.tensor_type.shape.dim)
    dataset = "mnist5k" if rank == 4 else "digits"
    return load_builtin(dataset, "train")[0][:64], load_builtin(dataset, "test")[0][:32]


def run_in_snntorch(graph, x, steps):
    """docs/exports.md, "snnTorch": import_from_nir, then each IF as Leaky(beta=1) started at metadata v_init."""
    net = import_from_nir(graph)
    for name, module in list(net.named_children()):
        if isinstance(module, snn.Leaky):  # nir.IF, imported as Leaky(beta=0.9) that returns (spikes, membrane)
            setattr(net, name, snn.Leaky(beta=1.0, threshold=float(module.threshold), init_hidden=True))
    for name, module in net.named_children():
        if isinstance(module, snn.Leaky):
            v0 = torch.as_tensor(graph.nodes[name].metadata["v_init"], dtype=torch.float32)
            module.mem = v0.expand(len(x), *v0.shape).clone()
    with torch.no_grad():
        outputs = torch.stack([net(x)[0] for _ in range(steps)])
    return outputs.cumsum(0) / torch.arange(1, steps + 1).reshape(-1, 1, 1)


def test_the_models_without_max_pooling_include_a_cnn_with_average_pooling():
    names = _without_max_pooling()
    assert "mnist_cnn_relu" in names and "mnist_cnn_maxpool" not in names


@pytest.mark.parametrize("name", _without_max_pooling())
def test_released_snntorch_loads_and_runs_the_export(name, tmp_path):
    path = MODELS_DIR / f"{name}.onnx"
    x_train, x_test = _data(path)
    converted = convert(path, x_train, recipe="bu2022")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NirSemanticsWarning)
        write_nir(export_nir(converted), tmp_path / "snn.nir")
    graph = nir.read(tmp_path / "snn.nir")
    assert not any(isinstance(node, nir.SumPool2d) for node in graph.nodes.values())
    as_released = import_from_nir(graph)
    with torch.no_grad(), pytest.raises(TypeError, match="tuple"):
        as_released(torch.from_numpy(x_test))  # the known bug the documented lines work around
    ours = SpikingNetwork(converted.model, "cpu").run(x_test, STEPS).outputs
    theirs = run_in_snntorch(graph, torch.from_numpy(x_test), STEPS)
    same = (theirs.argmax(-1) == ours.argmax(-1)).float().mean().item()
    off = ((theirs - ours).abs() > 1e-4).float().mean().item()
    assert same >= 0.995 and off <= 1e-3, (same, off)
