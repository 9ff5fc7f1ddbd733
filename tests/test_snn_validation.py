"""Edited SNN files: every IFNeuron attribute is checked (type, length, range, finite) by one layer,
snnrt.validate, so that run, eval, inspect and both exports refuse the same files with exit 2 and one line."""

import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from snnrt import contract
from snnrt.graph import GraphModule
from snnrt.validate import InvalidSnnError

from tests.conftest import tiny_snn
from tests.refusals import invoke, refused


def _set(name, value):
    def edit(node):
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept)
        if value is not None:
            node.attribute.append(helper.make_attribute(name, value))
    return edit


def _both(theta, v_init):
    def edit(node):
        _set(contract.ATTR_THRESHOLD, theta)(node)
        _set(contract.ATTR_V_INIT, v_init)(node)
    return edit


EDITS = {
    "spread 5": (_set(contract.ATTR_SPREAD, 5.0), "v_spread must be in [0, 1], got 5.0"),
    "spread nan": (_set(contract.ATTR_SPREAD, float("nan")), "v_spread must be in [0, 1]"),
    "3 thresholds": (_both([1.0, 2.0, 3.0], [0.5, 1.0, 1.5]), "v_threshold has 3 values for 64 channels"),
    "no threshold": (_set(contract.ATTR_THRESHOLD, None), "v_threshold is missing or empty"),
    "nan threshold": (_both([float("nan")], [0.5]), "v_threshold holds NaN or inf"),
    "zero threshold": (_both([0.0], [0.0]), "v_threshold must be positive"),
    "negative threshold": (_both([-1.0], [0.5]), "v_threshold must be positive, got -1"),
    "huge v_init": (_both([1.0], [1e300]), "v_init holds NaN or inf"),
    "v_init length": (_both([1.0], [0.5, 0.5]), "v_init has 2 values, v_threshold 1"),
    "reset": (_set(contract.ATTR_RESET, "sometimes"), "reset must be one of"),
    "threshold type": (_set(contract.ATTR_THRESHOLD, "high"), "v_threshold must be a list of floats"),
}
COMMANDS = {
    "run": ("run", "{path}", "--input", "digits", "--samples", 4),
    "eval": ("eval", "{path}", "--data", "digits", "--samples", 4),
    "inspect": ("inspect", "{path}"),
    "export onnx": ("export", "{path}", "--format", "onnx", "-o", "{out}"),
    "export nir": ("export", "{path}", "--format", "nir", "-o", "{out}"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("edit", EDITS)
def test_an_edited_snn_file_is_refused_naming_file_node_and_attribute(tmp_path, snn, edit, command):
    change, words = EDITS[edit]
    model = onnx.load(snn)
    change(next(n for n in model.graph.node if n.op_type == contract.IF_OP))
    path, out = tmp_path / "edited.snn.onnx", tmp_path / "out"
    path.write_bytes(model.SerializeToString())
    args = [str(a).format(path=path, out=out) for a in COMMANDS[command]]
    refused(invoke(*args), str(path), "'/1/Relu_if' (IFNeuron)", words)
    assert not out.exists()


def test_the_runtime_refuses_thresholds_that_do_not_fit_the_channels_it_meets():
    """Where the file declares no input shape, the IF layer checks its thresholds against the input it gets."""
    model = tiny_snn([helper.make_node("Identity", ["s"], ["output"])])
    node = model.graph.node[0]
    _both([1.0, 2.0, 3.0], [0.5, 1.0, 1.5])(node)
    model.graph.input[0].type.tensor_type.ClearField("shape")
    with pytest.raises(InvalidSnnError, match="'if' \\(IFNeuron\\): v_threshold has 3 values for 4 channels"):
        GraphModule(model)(torch.zeros((2, 4)))


def test_an_unknown_op_of_the_spiking_domain_is_refused():
    model = tiny_snn([helper.make_node("Leaky", ["s"], ["output"], "leak", domain=contract.DOMAIN)])
    with pytest.raises(InvalidSnnError, match="'leak' \\(Leaky\\): not an op of ai.onnx2snn"):
        GraphModule(model)


def test_a_spiking_node_without_its_input_is_refused():
    model = tiny_snn([helper.make_node("Identity", ["s"], ["output"])])
    del model.graph.node[0].input[:]
    with pytest.raises(InvalidSnnError, match="'if' \\(IFNeuron\\): has 0 input\\(s\\) and 1 output\\(s\\)"):
        GraphModule(model)


def test_a_valid_snn_runs_after_the_checks():
    model = tiny_snn([helper.make_node("Identity", ["s"], ["output"])])
    out = GraphModule(model)(torch.full((1, 4), 0.6))
    assert np.array_equal(out.numpy(), np.ones((1, 4), np.float32))
