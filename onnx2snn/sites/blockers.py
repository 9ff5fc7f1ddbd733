"""Everything that blocks conversion of a normalized ANN: one reason per node, every node at once.

A node blocks when it computes from values that follow the input (not only from constants and shapes, such as
attention's scale 1/sqrt(d) from a Shape chain, which spikes never touch) and

- it is recurrent (LSTM, GRU, RNN, Loop, Scan, If), or reads an integer graph input (token ids);
- it is a nonlinearity that no activation site covers (BLOCKING_OPS), or a comparison or selection by data;
- it multiplies or divides two such values (attention's Q·Kᵀ and A·V, a gate, a computed divisor): spikes
  carry rates, and the product of two spike trains is not the product of their rates;

or, whatever it reads, when the runtime cannot run it (the SNN file would not run in ``eval``). All but the
recurrent ops, integer inputs and ops the runtime cannot run are ``compensable``: onnx2snn.sites.compensate may turn
them into ExpectationCompensation units.
"""

from dataclasses import dataclass

import numpy as np
import onnx

from snnrt import ops  # noqa: F401  (registers the runtime's converters)
from snnrt.graph import opset_versions
from snnrt.registry import ONNX_DOMAIN, REGISTRY

_RETRAIN = "replace it by ReLU and retrain"
_NORMALIZE = ("it divides by statistics of its input, which spike counts do not give step by step; use "
              "BatchNormalization (folded into the weights) and retrain")
_SELECT = "it compares or selects by the values, which spike counts do not carry step by step"
BLOCKING_OPS = {
    "Sigmoid": "replace it by ReLU (or a clipped ReLU) and retrain",
    "Tanh": "replace it by ReLU (or a clipped ReLU) and retrain",
    "Gelu": _RETRAIN,
    "Erf": "GELU written with Erf; replace it by ReLU and retrain",
    "Elu": _RETRAIN,
    "Selu": _RETRAIN,
    "Celu": _RETRAIN,
    "Mish": _RETRAIN,
    "Softplus": _RETRAIN,
    "Softsign": _RETRAIN,
    "ThresholdedRelu": _RETRAIN,
    "Shrink": _RETRAIN,
    "HardSigmoid": "replace it by a clipped ReLU and retrain",
    "HardSwish": "replace it by ReLU6 and retrain",
    "PRelu": "a PRelu whose slope is computed at run time cannot be computed with spikes; make the slope a weight",
    "Max": "a Max that is not a ReLU (max with 0) cannot be computed with spikes",
    "Min": "a Min that is not a trained ReLU bound (min of a ReLU and a constant) cannot be computed with spikes",
    "Clip": "a Clip that is not a ReLU form (lower bound 0) cannot be computed with spikes",
    "Abs": "an absolute value cannot be computed with spikes",
    "Sign": "a sign cannot be computed with spikes",
    "Round": "a rounding cannot be computed with spikes",
    "Ceil": "a rounding cannot be computed with spikes",
    "Floor": "a Floor outside a QCFS activation cannot be computed with spikes",
    "Mod": "a remainder cannot be computed with spikes",
    "Reciprocal": "a reciprocal cannot be computed with spikes",
    "LRN": "remove local response normalization (or move it after the last activation)",
    "LayerNormalization": _NORMALIZE,
    "GroupNormalization": _NORMALIZE,
    "InstanceNormalization": _NORMALIZE,
    "MeanVarianceNormalization": _NORMALIZE,
    "LpNormalization": _NORMALIZE,
    "Softmax": "a Softmax is only allowed as the last node",
    "LogSoftmax": "a LogSoftmax is only allowed as the last node",
    "Hardmax": "a Hardmax is only allowed as the last node",
    "Exp": "an exponential inside the network cannot be computed with spikes",
    "Log": "a logarithm inside the network cannot be computed with spikes",
    "Sqrt": "a square root inside the network cannot be computed with spikes",
    "Pow": "a power inside the network cannot be computed with spikes",
    "Sin": "a sine cannot be computed with spikes",
    "Cos": "a cosine cannot be computed with spikes",
    "ReduceMax": "a maximum over an axis cannot be computed with spikes",
    "ReduceMin": "a minimum over an axis cannot be computed with spikes",
    "ReduceProd": "a product over an axis cannot be computed with spikes",
    "ReduceL1": "a norm cannot be computed with spikes",
    "ReduceL2": "a norm cannot be computed with spikes",
    "ReduceSumSquare": "a sum of squares cannot be computed with spikes",
    "ReduceLogSum": "a logarithm cannot be computed with spikes",
    "ReduceLogSumExp": "a log-sum-exp cannot be computed with spikes",
    "ArgMax": _SELECT,
    "ArgMin": _SELECT,
    "TopK": _SELECT,
    "Equal": _SELECT,
    "Greater": _SELECT,
    "GreaterOrEqual": _SELECT,
    "Less": _SELECT,
    "LessOrEqual": _SELECT,
    "Not": _SELECT,
    "And": _SELECT,
    "Or": _SELECT,
    "Xor": _SELECT,
}
RECURRENT_OPS = ("LSTM", "GRU", "RNN", "Loop", "Scan", "If")
PRODUCT_OPS = ("Mul", "MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum")
SHAPE_ONLY_OPS = ("Shape", "Size")  # their outputs depend on the input's shape, not on its values
INTEGER_INPUT = ("reads the integer graph input {name!r} ({kind}); spikes code float values, not token ids "
                 "into an embedding: onnx2snn converts networks whose inputs are float tensors")


def varying_values(graph):
    """Names of the tensors whose values follow the graph's inputs (not only their shapes)."""
    varying = {t.name for t in graph.inputs}
    for node in graph.nodes:
        if node.op not in SHAPE_ONLY_OPS and any(t.name in varying for t in node.inputs):
            varying.update(t.name for t in node.outputs)
    return varying


def _is_integer(tensor):
    return tensor.dtype is not None and np.issubdtype(np.dtype(tensor.dtype), np.integer)


def _runtime_runs(node, opsets):
    domain = node.domain or ONNX_DOMAIN
    return node.op == "Constant" or REGISTRY.lookup(domain, node.op, opsets.get(domain, 1)) is not None


def _reason(node, varying, integer_inputs):
    """(why ``node`` blocks conversion, whether a compensation unit can compute it), or None. ``node`` reads at
    least one varying value."""
    read = [t for t in node.inputs if t.name in varying]
    integer = next((t for t in node.inputs if t.name in integer_inputs), None)
    if node.op in RECURRENT_OPS:
        return "a recurrent op; onnx2snn converts feed-forward networks (export the model without LSTM/GRU/RNN)", False
    if integer is not None:
        kind = onnx.helper.tensor_dtype_to_string(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(integer.dtype)))
        return INTEGER_INPUT.format(name=integer.name, kind=kind.removeprefix("TensorProto.")), False
    if node.op in PRODUCT_OPS and len(node.inputs) > 1 and node.inputs[0] in read and node.inputs[1] in read:
        return ("a product of two values computed from the input (attention's Q·Kᵀ or A·V, a gate): the product "
                "of two spike trains is not the product of their rates"), True
    if node.op == "Div" and node.inputs[1] in read:
        return "division by a computed value cannot be computed with spikes", True
    if node.op == "Where" and node.inputs[0] in read:
        return _SELECT, True
    return (BLOCKING_OPS[node.op], True) if node.op in BLOCKING_OPS else None


@dataclass
class Blocker:
    node: object  # the onnx-graphsurgeon node
    reason: str
    compensable: bool  # an ExpectationCompensation unit can compute it (see onnx2snn.sites.compensate)

    def __str__(self):
        return f"node {self.node.name!r} ({self.node.op}): {self.reason}"


def blockers(model, graph, skip):
    """A Blocker for every node of ``graph`` (imported from ``model``) that blocks conversion, in graph order;
    ``skip``: ids of the nodes that activation sites replace or the spiking output drops."""
    varying = varying_values(graph)
    integer_inputs = {t.name for t in graph.inputs if _is_integer(t)}
    opsets = opset_versions(model)
    found = []
    for node in graph.nodes:
        if id(node) in skip:
            continue
        reason = _reason(node, varying, integer_inputs) if any(t.name in varying for t in node.inputs) else None
        if not _runtime_runs(node, opsets):
            opset = opsets.get(node.domain or ONNX_DOMAIN, 1)
            reason = (reason[0] if reason else f"the runtime cannot run op {node.op} (opset {opset})", False)
        if reason is not None:
            found.append(Blocker(node, *reason))
    return found
