"""The converter registry (duplicate check, opset lookup) and the error for ops that have no converter."""

import numpy as np
import pytest
import torch
from tests.runtime.helpers import make_model, randn
from onnx import helper

import snnrt.errors
from snnrt.graph import GraphModule
from snnrt.registry import REGISTRY, ConverterRegistry, DuplicateConverterError


def _converter(tag):
    def convert(node):
        return tag

    return convert


def test_duplicate_registration_raises():
    registry = ConverterRegistry()
    registry.register("Foo", 7)(_converter("a"))
    registry.register("Foo", 7, domain="my.domain")(_converter("other domain"))
    registry.register("Foo", 9)(_converter("newer"))
    with pytest.raises(DuplicateConverterError, match="Foo"):
        registry.register("Foo", 7)(_converter("b"))


@pytest.mark.parametrize("opset, expected", [(1, None), (6, None), (7, "v7"), (10, "v7"), (11, "v11"), (12, "v11"),
                                             (13, "v13"), (21, "v13")])
def test_lookup_takes_highest_since_version_not_above_opset(opset, expected):
    registry = ConverterRegistry()
    for since in (13, 7, 11):  # registration order does not matter
        registry.register("Foo", since)(_converter(f"v{since}"))
    converter = registry.lookup("", "Foo", opset)
    assert (converter(None) if converter else None) == expected


def test_lookup_keeps_domains_apart():
    registry = ConverterRegistry()
    registry.register("Foo", 1, domain="a")(_converter("a"))
    assert registry.lookup("b", "Foo", 5) is None
    assert registry.lookup("", "Foo", 5) is None
    assert registry.lookup("a", "Foo", 5)(None) == "a"
    assert registry.op_types("a") == ["Foo"]
    assert registry.op_types() == []


def test_global_registry_serves_opset_variants():
    """Clip takes its bounds as attributes before opset 11 and as inputs from opset 11."""
    assert REGISTRY.lookup("", "Clip", 6) is not REGISTRY.lookup("", "Clip", 11)
    assert REGISTRY.lookup("", "Clip", 11) is REGISTRY.lookup("", "Clip", 13)
    assert REGISTRY.lookup("", "Softmax", 11) is not REGISTRY.lookup("", "Softmax", 13)


def test_unsupported_ops_are_all_listed():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="fine"),
        helper.make_node("Det", ["m"], ["d"], name="first_det"),
        helper.make_node("Det", ["m"], ["d2"], name="second_det"),
        helper.make_node("Frobnicate", ["r"], ["f"], name="custom_op", domain="com.example"),
        helper.make_node("Add", ["d", "d2"], ["y"], name="also_fine"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", 1, [2, 2]), helper.make_tensor_value_info("m", 1, [3, 3])],
        [helper.make_tensor_value_info("y", 1, []), helper.make_tensor_value_info("f", 1, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(snnrt.errors.UnsupportedOpError) as info:
        GraphModule(model)
    message = str(info.value)
    for name, op in (("first_det", "Det"), ("second_det", "Det"), ("custom_op", "com.example::Frobnicate")):
        assert name in message and op in message
    assert "'fine'" not in message and "'also_fine'" not in message
    assert len(info.value.problems) == 3
    assert isinstance(info.value, snnrt.errors.RuntimeInputError)


def test_converter_refusal_is_reported_like_a_missing_op():
    """A converter that cannot handle a node's attributes (here MaxPool's Indices output) is listed too."""
    node = helper.make_node("MaxPool", ["x"], ["y", "indices"], kernel_shape=[2, 2], name="pool_with_indices")
    model = make_model(node, {"x": randn(1, 1, 4, 4)}, ["y", "indices"], 12)
    with pytest.raises(snnrt.errors.UnsupportedOpError, match="pool_with_indices"):
        GraphModule(model)


def test_supported_model_runs():
    model = make_model(helper.make_node("Relu", ["x"], ["y"]), {"x": randn(3)}, ["y"], 17)
    x = np.array([-1.0, 0.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(GraphModule(model)(torch.from_numpy(x)).numpy(), np.maximum(x, 0))
