"""A read-only view of one ONNX node for converters: attributes as Python values, constant inputs."""

import numpy as np
import onnx
from onnx import numpy_helper


class OnnxNode:
    """What a converter sees of a node: name, op type, attributes, inputs and the opset in force."""

    def __init__(self, proto, opset, constants):
        self.proto = proto
        self.name = proto.name or f"{proto.op_type}({', '.join(proto.output)})"
        self.op_type = proto.op_type
        self.domain = proto.domain
        self.opset = opset
        self.outputs = list(proto.output)
        self.attrs = {a.name: _attr_value(a) for a in proto.attribute}
        self._constants = constants
        # values that subgraphs (If branches) read from this scope come after the declared inputs
        self.declared_inputs = len(proto.input)
        self.inputs = list(proto.input) + subgraph_references(proto)

    def attr(self, name, default=None):
        return self.attrs.get(name, default)

    def has_input(self, i):
        return i < len(self.inputs) and self.inputs[i] != ""

    def const(self, i):
        """The constant value (numpy) of input i, or None if absent or computed at run time."""
        if not self.has_input(i):
            return None
        return self._constants.get(self.inputs[i])


def subgraph_references(proto):
    """Names that a node's subgraphs read from the enclosing scope, in first-use order."""
    names = []
    for attr in proto.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for graph in graphs:
            defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
            for node in graph.node:
                for name in list(node.input) + subgraph_references(node):
                    if name and name not in defined and name not in names:
                        names.append(name)
                defined.update(node.output)
    return names


def _attr_value(attr):
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


def constant_node_value(proto):
    """Value (numpy) of a Constant node, whatever attribute form it uses."""
    attrs = {a.name: _attr_value(a) for a in proto.attribute}
    if "value" in attrs:
        return np.asarray(attrs["value"])
    if "value_float" in attrs:
        return np.asarray(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.asarray(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.asarray(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.asarray(attrs["value_ints"], dtype=np.int64)
    raise ValueError(f"Constant node {proto.name!r} has no supported value attribute ({sorted(attrs)})")
