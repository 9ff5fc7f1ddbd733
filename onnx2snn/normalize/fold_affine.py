"""Fold a per-channel constant Mul/Div and Add/Sub that follows a Conv or Gemm into its weights and bias.

Written here because no maintained optimizer folds a scale into Gemm or a decomposed BatchNorm; this
pass is the single place where BatchNorm (via fold_batchnorm) and exporter-written Mul+Add get folded.
"""

import numpy as np
import onnx_graphsurgeon as gs

from .graph_edits import bypass, constant_input, single_consumer

_OPS = ("Mul", "Div", "Add", "Sub")


def _output_channels(producer):
    weight = producer.inputs[1].values
    if producer.op == "Conv":
        return weight.shape[0], weight.ndim
    if producer.op == "ConvTranspose":
        return weight.shape[1], weight.ndim
    return weight.shape[0 if producer.attrs.get("transB", 0) else 1], 2


def _per_channel(value, channels, rank):
    """value as a vector of length ``channels`` if it broadcasts along axis 1 only, else None."""
    if value.size == 1:
        return np.full(channels, value.reshape(-1)[0], dtype=np.float64)
    if value.ndim > rank:
        return None
    shape = (1,) * (rank - value.ndim) + value.shape
    if shape[1] != channels or any(d != 1 for i, d in enumerate(shape) if i != 1):
        return None
    return value.reshape(-1).astype(np.float64)


def _foldable(node):
    """(producer, vector) when ``node`` can be folded into the Conv/Gemm that feeds it, else None."""
    if node.op not in _OPS or len(node.inputs) != 2:
        return None
    variables = [t for t in node.inputs if not isinstance(t, gs.Constant)]
    if len(variables) != 1 or (node.op in ("Sub", "Div") and node.inputs[0] is not variables[0]):
        return None
    x = variables[0]
    if not x.inputs or single_consumer(x) is not node:
        return None
    producer = x.inputs[0]
    if producer.op not in ("Conv", "Gemm", "ConvTranspose") or not isinstance(producer.inputs[1], gs.Constant):
        return None
    if producer.op == "ConvTranspose" and producer.attrs.get("group", 1) != 1:
        return None
    if producer.op == "Gemm" and producer.attrs.get("transA", 0):
        return None
    if len(producer.inputs) > 2 and not isinstance(producer.inputs[2], gs.Constant):
        return None
    value = constant_input(node, x)
    if value is None:
        return None
    channels, rank = _output_channels(producer)
    vector = _per_channel(value, channels, rank)
    return None if vector is None else (producer, vector)


def _bias(producer, channels):
    if len(producer.inputs) < 3:
        return np.zeros(channels)
    bias = producer.inputs[2].values.astype(np.float64) * producer.attrs.get("beta", 1.0)
    if bias.size not in (1, channels):
        return None
    return np.broadcast_to(bias.reshape(-1), (channels,)).copy()


def _fold(graph, node, producer, vector):
    weight = producer.inputs[1].values.astype(np.float64)
    channels, _ = _output_channels(producer)
    bias = _bias(producer, channels)
    if bias is None:
        return False
    if node.op in ("Mul", "Div"):
        scale = vector if node.op == "Mul" else 1.0 / vector
        axis = {"Conv": 0, "ConvTranspose": 1}.get(producer.op, 0 if producer.attrs.get("transB", 0) else 1)
        shape = [1] * weight.ndim
        shape[axis] = -1
        weight = weight * scale.reshape(shape)
        bias = bias * scale
    else:
        bias = bias + (vector if node.op == "Add" else -vector)
    dtype = producer.inputs[1].values.dtype
    producer.inputs[1] = gs.Constant(f"{producer.name}_w_folded{id(node)}", weight.astype(dtype))
    bias_const = gs.Constant(f"{producer.name}_b_folded{id(node)}", bias.astype(dtype))
    if len(producer.inputs) < 3:
        producer.inputs.append(bias_const)
    else:
        producer.inputs[2] = bias_const
    if producer.op == "Gemm":
        producer.attrs["beta"] = 1.0
    bypass(graph, node, producer.outputs[0])
    return True


def fold_affine(model):
    """Repeat until nothing folds: y = (W x + b) * m + d  ->  y = (m W) x + (m b + d)."""
    graph = gs.import_onnx(model)
    folded = False
    progress = True
    while progress:
        progress = False
        for node in list(graph.nodes):
            found = _foldable(node) if node.outputs else None
            if found and _fold(graph, node, *found):
                graph.cleanup()
                folded = progress = True
                break
    if not folded:
        return model
    graph.cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
