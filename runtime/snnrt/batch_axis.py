"""Whether a node computes the same with time folded into the batch axis: one rule set for the runtime's
layer-by-layer order (snnrt.folding) and the standard-ONNX export.

Both run a node that reads spikes once on (T*N, ...) values, t outermost. That is exact when the node
treats the samples along axis 0 independently and keeps axis 0 first; nodes that reduce, move, index or
read axis 0 (or whose effect on it cannot be told from constants) are refused with the reason.
"""

import numpy as np
from onnx import helper

SHAPE_OPS = ("Shape", "Size")  # ops that read a value's shape, the batch size included
PER_SAMPLE = frozenset(
    "Abs Acos Add And AveragePool BatchNormalization Cast CastLike Ceil Celu Clip Cos DepthToSpace Div Dropout "
    "Elu Equal Erf Exp Floor Gelu GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual "
    "GroupNormalization HardSigmoid HardSwish Identity InstanceNormalization LRN LeakyRelu Less LessOrEqual "
    "Log LpPool Max MaxPool Mean Min Mish Mod Mul Neg Not Or PRelu Pow Reciprocal Relu Round Selu Sigmoid "
    "Sign Sin Softplus Softsign SpaceToDepth Sqrt Sub Sum Tanh ThresholdedRelu Where Xor".split()
)
FIRST_INPUT_ONLY = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
# op -> default axis (Concat has no default: its axis is required)
AXIS_DEFAULT = {"ArgMax": 0, "ArgMin": 0, "Concat": 0, "Flatten": 1, "Gather": 0, "Hardmax": -1,
                "LayerNormalization": -1, "LogSoftmax": -1, "Softmax": -1, "Split": 0}
AXES_OPS = frozenset({"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
                      "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Slice", "Squeeze", "Unsqueeze"})


def declared_shapes(graph):
    """Shapes of the values whose shape a GraphProto declares (inputs, value_info, outputs): a list per value,
    None for a dimension without a fixed size."""
    values = [*graph.input, *graph.value_info, *graph.output]
    return {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in values if v.type.tensor_type.HasField("shape")}


def declared_ranks(graph):
    """Ranks of the values whose shape a GraphProto declares (inputs, value_info, outputs)."""
    return {name: len(shape) for name, shape in declared_shapes(graph).items()}


def _attr(node, name, default=None):
    found = [a for a in node.attribute if a.name == name]
    return helper.get_attribute_value(found[0]) if found else default


class BatchAxisProblem(Exception):
    """The reason why a node cannot run with time folded into the batch axis."""


def _reject(node, why):
    raise BatchAxisProblem(why)


def _constant_ints(node, index, constants):
    """The integer values of input ``index`` when it is a constant, else None (missing input: [])."""
    if index >= len(node.input) or not node.input[index]:
        return []
    value = constants.get(node.input[index])
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def _touches_axis0(node, axes, rank):
    if any(a < 0 for a in axes) and rank is None:
        _reject(node, f"its axes {axes} are negative and the input rank is unknown")
    return any(a % rank == 0 if a < 0 else a == 0 for a in axes)


def _axes(node, constants):
    """The axes a Reduce/Slice/Squeeze/Unsqueeze node acts on; None means all of them."""
    if node.op_type == "Slice":
        if _attr(node, "starts") is not None:  # Slice-1: axes and starts are attributes
            return list(_attr(node, "axes") or range(len(_attr(node, "starts"))))
        axes = _constant_ints(node, 3, constants)
        starts = _constant_ints(node, 1, constants)
        return axes if axes else (None if starts is None else list(range(len(starts))))
    axes = _attr(node, "axes")
    if axes is None:
        axes = _constant_ints(node, 1, constants)
        if axes is None:
            _reject(node, "its axes are not a constant")
    if not axes:
        return [] if _attr(node, "noop_with_empty_axes", 0) else None
    return list(axes)


def _check_reshape(node, constants):
    shape = _constant_ints(node, 1, constants)
    if not shape:
        _reject(node, "its target shape is not a constant")
    if not (shape[0] == -1 or (shape[0] == 0 and not _attr(node, "allowzero", 0))):
        _reject(node, f"its target shape {shape} fixes the batch size (use 0 or -1 in front)")


def _check_pad(node, rank, constants):
    if _attr(node, "pads") is not None:  # Pad-1 and Pad-2: pads is an attribute
        pads, axes = list(_attr(node, "pads")), []
    else:
        pads, axes = _constant_ints(node, 1, constants), _constant_ints(node, 3, constants)
    if pads is None or axes is None:
        _reject(node, "its pads are not constants")
    axes = axes or list(range(len(pads) // 2))
    for i, axis in enumerate(axes):
        if _touches_axis0(node, [axis], rank) and (pads[i] or pads[i + len(axes)]):
            _reject(node, "it pads the batch axis")


def batch_axis_problem(node, folded, rank, constants):
    """None if ``node`` (a NodeProto) gives the same per sample on a (T*N, ...) batch, else why not.

    ``folded``: positions of the inputs that carry the folded batch; ``rank``: the rank of the first of
    them (None if unknown); ``constants``: constant values by name.
    """
    try:
        _check(node, folded, rank, constants)
    except BatchAxisProblem as exc:
        return str(exc)
    return None


def _check(node, folded, rank, constants):
    op = node.op_type
    if op in PER_SAMPLE:
        return
    if op in FIRST_INPUT_ONLY:
        if folded != [0]:
            _reject(node, "spikes reach an input other than its data input")
        if _attr(node, "transA", 0):
            _reject(node, "it transposes its data input (transA=1)")
    elif op in AXIS_DEFAULT:
        axis = _attr(node, "axis", AXIS_DEFAULT[op])
        if _touches_axis0(node, [axis], rank):
            _reject(node, f"it works along axis {axis}, the batch axis")
    elif op in AXES_OPS:
        axes = _axes(node, constants)
        if axes is not None and op == "Unsqueeze" and rank is not None:
            rank += len(axes)  # Unsqueeze's axes index its output
        if axes is None or _touches_axis0(node, axes, rank):
            _reject(node, "it acts on the batch axis (axis 0, or all axes)")
    elif op == "Transpose":
        perm = _attr(node, "perm")
        if not perm or perm[0] != 0:
            _reject(node, f"its permutation {perm} moves the batch axis")
    elif op == "Reshape":
        _check_reshape(node, constants)
    elif op == "Pad":
        _check_pad(node, rank, constants)
    elif op in SHAPE_OPS:
        _reject(node, "it reads the batch size")
    else:
        _reject(node, "the export does not know whether it mixes the samples of the batch axis")
