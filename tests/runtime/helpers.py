"""Build small ONNX models with onnx.helper and compare snnrt's GraphModule against onnxruntime."""

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

from snnrt.graph import GraphModule

RTOL = 1e-5


def _value_info(name, value):
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape)


def make_model(nodes, inputs, outputs, opset, initializers=None):
    """A model of ``nodes`` (one NodeProto or a list) at ``opset``.

    ``inputs`` maps graph input names to example arrays (their dtype and shape become the input types),
    ``initializers`` maps names to constant arrays, ``outputs`` lists the graph output names; their types
    come from ONNX shape inference.
    """
    nodes = [nodes] if isinstance(nodes, onnx.NodeProto) else list(nodes)
    for i, node in enumerate(nodes):
        node.name = node.name or f"{node.op_type.lower()}_{i}"
    graph = helper.make_graph(
        nodes,
        "test",
        [_value_info(name, value) for name, value in inputs.items()],
        [helper.make_empty_tensor_value_info(n) for n in outputs],
        initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in (initializers or {}).items()],
    )
    opset_id = helper.make_opsetid("", opset)
    model = helper.make_model(graph, opset_imports=[opset_id])
    # opsets 2-4 never shipped as a release default and are not in onnx's table: they get IR version 3
    model.ir_version = helper.find_min_ir_version_for([opset_id], ignore_unknown=True)
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def run_onnxruntime(model, inputs):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def run_snnrt(model, inputs):
    module = GraphModule(model)
    with torch.no_grad():
        outputs, _ = module.run(*[torch.from_numpy(np.array(a)) for a in inputs.values()])
    return [o.numpy() for o in outputs]


def assert_close(actual, expected, rtol=RTOL):
    """Same shape and dtype; integers equal; floats within rtol * max(1, max |expected|), NaN and inf in place."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != reference {expected.shape}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != reference {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected)
        return
    assert (np.isnan(actual) == np.isnan(expected)).all(), "NaN positions differ"
    infinite = np.isinf(expected)
    assert (actual[infinite] == expected[infinite]).all(), "infinities differ"
    finite = np.isfinite(expected)
    if finite.any():
        scale = max(1.0, float(np.abs(expected[finite]).max()))
        diff = float(np.abs(actual[finite].astype(np.float64) - expected[finite]).max())
        assert diff <= rtol * scale, f"max abs difference {diff:.3g} > {rtol * scale:.3g}"


def check(nodes, inputs, outputs=("y",), opset=17, initializers=None, rtol=RTOL, reference=run_onnxruntime):
    """Build the model, run it in the reference and in GraphModule and compare every output.

    ``reference(model, inputs) -> list of arrays`` is onnxruntime unless a test gives its own, for the few
    cases that onnxruntime refuses although the spec allows them.
    """
    inputs = {name: np.asarray(value) for name, value in inputs.items()}
    model = make_model(nodes, inputs, list(outputs), opset, initializers)
    expected = reference(model, inputs)
    actual = run_snnrt(model, inputs)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert_close(a, e, rtol)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
