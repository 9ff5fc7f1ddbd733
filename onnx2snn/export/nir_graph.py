"""Export an onnx2snn SNN to NIR, the Neuromorphic Intermediate Representation (``nir`` package).

IF layers become ``nir.IF`` nodes (r = 1, v_reset = 0). NIR spikes are 0/1 while onnx2snn's carry the
value theta, so theta goes into the weights of the layers that read the spikes. With ``unit_threshold``
(the default) every IF node has threshold 1 and the layer before it is divided by theta, the form that
snnTorch's importer needs (one threshold per node); otherwise the thresholds stay in the IF nodes.

NIR cannot hold two parts of onnx2snn's neuron, so they go into each IF node's ``metadata``:
``v_init`` (the initial membrane potential, theta/2 by default; NIR's IF starts at 0),
``v_shift_after_first_step`` (where the SNN has v_spread: what onnx2snn adds to each neuron's membrane
after the first step) and ``reset``
("subtract"; NIR's IF resets to v_reset). Residual Add becomes two edges into one node (NIR sums the
edges that enter a node); Concat becomes 1x1 convolutions into the channels of the result. The output
node carries the last layer's value at each step; onnx2snn reports its mean over the T steps.
"""

import functools
import warnings
from collections import defaultdict

import nir
import numpy as np
from onnx import helper, numpy_helper

from snnrt import contract

from .. import __version__
from ..errors import UnsupportedModelError
from ..save import atomic_write
from . import nir_layers
from .nir_layers import unsupported
from .nir_values import Builder, Part, Value, per_channel

LINEAR = {"Conv": nir_layers.conv, "Gemm": nir_layers.affine, "MatMul": nir_layers.affine,
          "BatchNormalization": nir_layers.batch_norm}
CHANNELWISE = {"AveragePool": nir_layers.average_pool, "GlobalAveragePool": nir_layers.average_pool,
               "Flatten": nir_layers.flatten}
JOINS = ("Add", "Concat", "Identity")
POOLINGS = ("avg", "sum")
MAXPOOL_ADVICE = "NIR has no max pooling; retrain the ANN with average pooling and convert it again"

V_INIT_NOTE = (
    "NIR's IF node has no initial membrane potential, so onnx2snn's start at v_init (theta/2 by default) "
    "is stored in each IF node's metadata['v_init'], in the node's units. A consumer that ignores it starts "
    "at 0 and computes the classic v0=0 conversion (spike counts rounded down instead of to the nearest), "
    "which needs more time steps for the same accuracy; set the membrane to metadata['v_init'] after "
    "each reset, and add metadata['v_shift_after_first_step'] (where present) to it after the first step, "
    "to compute what onnx2snn computes."
)
RESET_NOTE = (
    "NIR's IF resets to v_reset = 0, but these neurons reset by subtracting the threshold "
    "(metadata['reset'] = 'subtract'). snnTorch and Sinabs import IF with reset by subtraction; a consumer "
    "that follows NIR's definition resets to 0 instead. Convert with reset='zero' for NIR's own IF."
)


SIGNED_REASON = ("NIR has no signed neuron: its IF node fires one positive spike of one size, and this neuron fires "
                 "spikes of either sign and several sizes; export to standard ONNX instead (--format onnx)")


class NirSemanticsWarning(UserWarning):
    """The NIR file holds part of the SNN's behaviour in metadata that consumers may ignore."""


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _check_ops(graph):
    problems = []
    for node in graph.node:
        op = node.op_type
        if op in LINEAR or op in CHANNELWISE or op in JOINS or op == contract.IF_OP:
            continue
        reason = (MAXPOOL_ADVICE if "MaxPool" in op else SIGNED_REASON if op == contract.SIGNED_IF_OP
                  else f"NIR has no node for {op}")
        problems.append(f"node {node.name!r} ({op}): {reason}")
    if problems:
        raise UnsupportedModelError(
            f"{len(problems)} node(s) cannot be written to NIR:\n" + "\n".join(f"  - {p}" for p in problems))


def _graph_input(graph, inits):
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedModelError(
            f"NIR export needs one input and one output; the graph has {len(inputs)} and {len(graph.output)}")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value for d in dims[1:])
    if len(dims) < 2 or not all(shape):
        raise UnsupportedModelError(
            f"input {inputs[0].name!r} needs fixed sizes after the batch axis for NIR; it has "
            f"{[d.dim_value or d.dim_param or '?' for d in dims]}")
    return inputs[0].name, shape


def _wanted_scales(graph, unit_threshold):
    """Per tensor, the scale its producer should write it in: the threshold of the IF layer that reads it
    (directly or through a residual Add) with unit thresholds, else None (= 1)."""
    users = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
    outputs = {o.name for o in graph.output}
    wanted = {}
    for node in reversed(graph.node):
        for name in node.output:
            readers = users[name]
            if name in outputs or len(readers) != 1 or not unit_threshold:
                wanted[name] = None
            elif readers[0].op_type == contract.IF_OP:
                wanted[name] = _attrs(readers[0])[contract.ATTR_THRESHOLD]
            elif readers[0].op_type in ("Add", "Identity"):
                wanted[name] = wanted.get(readers[0].output[0])
            else:
                wanted[name] = None
    return wanted


def _if_layer(b, node, attrs, value, unit_threshold):
    channels, shape = value.shape[0], value.shape
    thresholds = attrs[contract.ATTR_THRESHOLD]
    if len(thresholds) > 1 and attrs.get(contract.ATTR_CHANNEL_AXIS, 1) != 1:
        raise unsupported(node, "thresholds along an axis other than 1 (NIR's tensors are channels first)")
    theta = per_channel(thresholds, channels)
    units = theta if unit_threshold else np.ones(channels)
    sources = b.gather(value, units, node.name)

    def full(per_channel_values):
        return np.broadcast_to(per_channel_values.reshape(channels, *[1] * (len(shape) - 1)), shape)

    reset = attrs.get(contract.ATTR_RESET, contract.RESET_SUBTRACT)
    reset = reset.decode() if isinstance(reset, bytes) else reset
    v_init = full(per_channel(attrs.get(contract.ATTR_V_INIT, [0.0]), channels) / units)
    metadata = {"onnx_node": node.name, "reset": reset, "v_init": v_init.astype(np.float32)}
    spread = float(attrs.get(contract.ATTR_SPREAD, 0.0))
    if spread:
        shift = spread * full(theta / units) * contract.spread_offsets(tuple(shape))
        metadata["v_shift_after_first_step"] = shift.astype(np.float32)
    layer = nir.IF(r=np.ones(shape, np.float32), v_threshold=full(theta / units).astype(np.float32),
                   v_reset=np.zeros(shape, np.float32), metadata=metadata)
    starts = bool(np.any(v_init) or spread)
    return Value(shape, [Part(b.add("if", layer, sources), theta, 0, channels)]), reset, starts


def _join(node, values):
    if node.op_type == "Identity":
        return values[0]
    if node.op_type == "Add":
        if len(values) != 2 or values[0].shape != values[1].shape:
            raise unsupported(node, "NIR sums edges of one shape; this Add broadcasts or has a constant input")
        merged = {}
        for part in values[0].parts + values[1].parts:
            key = (part.node, part.offset, part.channels)
            merged[key] = Part(*key[:1], merged[key].scale + part.scale, *key[1:]) if key in merged else part
        return Value(values[0].shape, list(merged.values()))
    rank = len(values[0].shape) + 1
    if _attrs(node).get("axis") % rank != 1:
        raise unsupported(node, "Concat along an axis other than the channels")
    parts, offset = [], 0
    for value in values:
        parts += [Part(p.node, p.scale, p.offset + offset, p.channels) for p in value.parts]
        offset += value.shape[0]
    return Value((offset, *values[0].shape[1:]), parts)


def export_nir(snn_model, unit_threshold=True, pooling="avg"):
    """The NIR graph of an SNN written by onnx2snn.convert (an SnnModel or its onnx.ModelProto).

    ``pooling``: average pooling as 'avg' (nir.AvgPool2d, which snnTorch imports) or 'sum' (nir.SumPool2d with
    1/window in the next layer's weights, which Sinabs imports); both compute the same.

    Raises UnsupportedModelError naming every node NIR cannot express (max pooling, for one); warns with
    NirSemanticsWarning when the neurons start at v_init != 0 or reset by subtraction (see the module doc).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    graph = getattr(snn_model, "model", snn_model).graph
    _check_ops(graph)
    channelwise = {**CHANNELWISE, **{op: functools.partial(nir_layers.average_pool, pooling=pooling)
                                     for op in ("AveragePool", "GlobalAveragePool")}}
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    input_name, input_shape = _graph_input(graph, inits)
    wanted = _wanted_scales(graph, unit_threshold)
    b = Builder()
    b.nodes["input"] = nir.Input(input_type={"input": np.array(input_shape)})
    values = {input_name: Value(input_shape, [Part("input", np.ones(input_shape[0]), 0, input_shape[0])])}
    resets, starts = set(), False
    for node in graph.node:
        missing = [name for name in node.input if name and name not in values and name not in inits]
        if missing:
            raise unsupported(node, f"input {missing[0]!r} is produced by no earlier node")
        attrs = _attrs(node)
        if node.op_type in JOINS:
            if not all(name in values for name in node.input):
                raise unsupported(node, "NIR sums node outputs; a constant input has no node")
            values[node.output[0]] = _join(node, [values[name] for name in node.input])
            continue
        value = values.get(node.input[0])
        if value is None:
            raise unsupported(node, f"its input {node.input[0]!r} is a constant, not a node output")
        if node.op_type == contract.IF_OP:
            out, reset, started = _if_layer(b, node, attrs, value, unit_threshold)
            resets.add(reset)
            starts |= started
        elif node.op_type in LINEAR:
            out = LINEAR[node.op_type](b, node, attrs, value, inits, wanted[node.output[0]])
        else:
            out = channelwise[node.op_type](b, node, attrs, value)
        values[node.output[0]] = out
    result = values[graph.output[0].name]
    sources = b.gather(result, np.ones(result.shape[0]), graph.output[0].name)
    b.nodes["output"] = nir.Output(output_type={"output": np.array(result.shape)})
    b.edges.extend((source, "output") for source in sources)
    metadata = {
        "producer": f"onnx2snn {__version__}",
        "thresholds": "unit: each IF layer's input is divided by its threshold" if unit_threshold else "native",
        "output": "the last layer's value at each step; onnx2snn's result is its mean over the T steps",
        "input": "the same analog input at every step (direct encoding)",
    }
    notes = ([V_INIT_NOTE] if starts else []) + ([RESET_NOTE] if contract.RESET_SUBTRACT in resets else [])
    if notes:
        metadata["caveats"] = " ".join(notes)
        warnings.warn(" ".join(notes), NirSemanticsWarning, stacklevel=2)
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=metadata, type_check=True)


def write_nir(graph, path):
    """Write a NIR graph to ``path`` (HDF5) atomically: the file appears complete or not at all."""
    atomic_write(path, lambda tmp: nir.write(tmp, graph))
