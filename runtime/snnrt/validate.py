"""The checks that every spiking node of an SNN file passes before anything reads it (snnrt.contract): each
IFNeuron and SignedIFNeuron attribute of its type, length, range, and finite. The runtime, `onnx2snn inspect` and
both exports read these nodes through :func:`if_attributes` and :func:`signed_attributes`, so they accept and
refuse the same files."""

import math
from typing import NamedTuple

import numpy as np
from onnx import AttributeProto, helper

from . import contract
from .errors import RuntimeInputError

SPIKING_OPS = (contract.IF_OP, contract.MAXPOOL_OP, contract.COMPENSATION_OP, contract.SIGNED_IF_OP)
_TYPES = {contract.ATTR_THRESHOLD: AttributeProto.FLOATS, contract.ATTR_V_INIT: AttributeProto.FLOATS,
          contract.ATTR_SPREAD: AttributeProto.FLOAT, contract.ATTR_RESET: AttributeProto.STRING,
          contract.ATTR_CHANNEL_AXIS: AttributeProto.INT, contract.ATTR_LEVELS: AttributeProto.INT}
_TYPE_WORDS = {AttributeProto.FLOATS: "a list of floats", AttributeProto.FLOAT: "a float",
               AttributeProto.STRING: "a string", AttributeProto.INT: "an integer"}


class InvalidSnnError(RuntimeInputError):
    """A spiking node of an SNN file has an attribute of the wrong type, length or range."""


class IFAttributes(NamedTuple):
    threshold: np.ndarray  # float32 (1,) or (channels,), finite and > 0
    v_init: np.ndarray  # float32, the threshold's shape, finite
    reset: str
    channel_axis: int
    spread: float  # in [0, 1]


class SignedAttributes(NamedTuple):
    threshold: np.ndarray  # float32 (1,) or (channels,), finite and > 0
    v_init: np.ndarray  # float32, the threshold's shape, finite
    levels: int  # in 1..contract.MAX_LEVELS
    channel_axis: int


def _error(name, op_type, text):
    return InvalidSnnError(f"node {name!r} ({op_type}): {text}; convert the model again rather than editing the "
                           "SNN file")


def _fail(node, text):
    raise _error(node.name, node.op_type, text)


def check_channels(name, size, channels, op_type=contract.IF_OP):
    """Raise InvalidSnnError unless a neuron node's ``size`` thresholds fit ``channels`` (None: not known)."""
    if channels is not None and size not in (1, channels):
        raise _error(name, op_type, f"{contract.ATTR_THRESHOLD} has {size} values for {channels} channels")


def _floats(node, name, values):
    array = np.asarray(values, np.float32)  # what ONNX stores; a value beyond float32 is inf there
    if not np.isfinite(array).all():
        _fail(node, f"{name} holds NaN or inf")
    return array


def if_attributes(node):
    """The checked attributes of an IFNeuron NodeProto. Raises InvalidSnnError naming the node."""
    attrs = {}
    for attr in node.attribute:
        if attr.name in _TYPES:
            if attr.type != _TYPES[attr.name]:
                _fail(node, f"{attr.name} must be {_TYPE_WORDS[_TYPES[attr.name]]}")
            attrs[attr.name] = helper.get_attribute_value(attr)
    for name in (contract.ATTR_THRESHOLD, contract.ATTR_V_INIT):
        if not attrs.get(name):
            _fail(node, f"{name} is missing or empty")
    threshold = _floats(node, contract.ATTR_THRESHOLD, attrs[contract.ATTR_THRESHOLD])
    v_init = _floats(node, contract.ATTR_V_INIT, attrs[contract.ATTR_V_INIT])
    if (threshold <= 0).any():
        _fail(node, f"{contract.ATTR_THRESHOLD} must be positive, got {float(threshold.min()):.4g}")
    if v_init.shape != threshold.shape:
        _fail(node, f"{contract.ATTR_V_INIT} has {v_init.size} values, {contract.ATTR_THRESHOLD} {threshold.size}")
    reset = attrs.get(contract.ATTR_RESET, contract.RESET_SUBTRACT.encode()).decode(errors="replace")
    if reset not in contract.RESET_MODES:
        _fail(node, f"{contract.ATTR_RESET} must be one of {contract.RESET_MODES}, got {reset!r}")
    spread = float(attrs.get(contract.ATTR_SPREAD, 0.0))
    if not (math.isfinite(spread) and 0.0 <= spread <= 1.0):
        _fail(node, f"{contract.ATTR_SPREAD} must be in [0, 1], got {spread}")
    return IFAttributes(threshold, v_init, reset, int(attrs.get(contract.ATTR_CHANNEL_AXIS, 1)), spread)


def signed_attributes(node):
    """The checked attributes of a SignedIFNeuron NodeProto: those of an IFNeuron (which it shares, reset by
    subtraction and no v_spread only) and ``levels``. Raises InvalidSnnError naming the node."""
    attrs = if_attributes(node)
    given = {a.name for a in node.attribute}
    if attrs.reset != contract.RESET_SUBTRACT or contract.ATTR_SPREAD in given:
        _fail(node, f"resets by subtraction and takes no {contract.ATTR_SPREAD}")
    levels = next((a.i for a in node.attribute if a.name == contract.ATTR_LEVELS), None)
    if levels is None or not 1 <= levels <= contract.MAX_LEVELS:
        _fail(node, f"{contract.ATTR_LEVELS} must be an integer in 1..{contract.MAX_LEVELS}, got {levels}")
    return SignedAttributes(attrs.threshold, attrs.v_init, int(levels), attrs.channel_axis)


def compensation_body(node):
    """The body graph of an ExpectationCompensation NodeProto: one input per input of the node and one output.
    Raises InvalidSnnError naming the node."""
    bodies = [a for a in node.attribute if a.name == contract.ATTR_BODY]
    if len(bodies) != 1 or bodies[0].type != AttributeProto.GRAPH:
        _fail(node, f"needs one graph attribute {contract.ATTR_BODY!r}")
    body = bodies[0].g
    initializers = {t.name for t in body.initializer}
    taken = len([i for i in body.input if i.name not in initializers])
    if taken != len(node.input) or len(body.output) != 1:
        _fail(node, f"its {contract.ATTR_BODY} must take {len(node.input)} input(s), one per input of the node, "
                    f"and give one output; it takes {taken} and gives {len(body.output)}")
    return body


def _check_arity(node, takes):
    """Raise InvalidSnnError unless ``node`` has one output and ``takes`` ("one" or "at least one") inputs, all named."""
    inputs = len(node.input) == 1 if takes == "one" else len(node.input) >= 1
    if not inputs or not all(node.input) or len(node.output) != 1 or not node.output[0]:
        _fail(node, f"has {len(node.input)} input(s) and {len(node.output)} output(s); it takes {takes} and gives one")


def _declared_channels(graph):
    """A function (value name, axis) -> the declared size of that axis of the value, or None."""
    shapes = {v.name: v.type.tensor_type.shape for v in (*graph.input, *graph.value_info, *graph.output)}

    def channels(name, axis):
        shape = shapes.get(name)
        if shape is None or not shape.dim:
            return None
        dims = shape.dim
        if not -len(dims) <= axis < len(dims):
            return None
        dim = dims[axis]
        return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None

    return channels


def check_spiking_nodes(graph):
    """Check every node of onnx2snn's domain in ``graph`` (an onnx.GraphProto): a known op, and for IFNeuron and
    SignedIFNeuron nodes their attributes, against the declared channel count of their input."""
    channels = _declared_channels(graph)
    for node in graph.node:
        if node.domain != contract.DOMAIN:
            continue
        if node.op_type not in SPIKING_OPS:
            _fail(node, f"not an op of {contract.DOMAIN} (those are {', '.join(SPIKING_OPS)})")
        if node.op_type == contract.COMPENSATION_OP:
            _check_arity(node, "at least one")
            compensation_body(node)
        else:
            _check_arity(node, "one")
        if node.op_type in (contract.IF_OP, contract.SIGNED_IF_OP):
            attrs = if_attributes(node) if node.op_type == contract.IF_OP else signed_attributes(node)
            declared = channels(node.input[0], attrs.channel_axis)
            check_channels(node.name, attrs.threshold.size, declared, node.op_type)
