"""ONNX subgraphs that run onnx2snn's spiking layers over T steps on time-folded values.

After the first spiking layer every value is (T*N, ...) with t outermost. An IFNeuron or SignedIFNeuron unfolds
its input to (T, N, ...) and runs the recurrence of snnrt.contract over the T slices, written out step by step
(``unrolled``) or as one Scan (``scan``); a SpikeMaxPool pools the cumulative spike counts (CumSum) and
emits the differences between steps; an ExpectationCompensation unit takes the running means of its inputs
(CumSum over t), runs its body on each step's means in a Scan, and emits the differences of t times its values.
The float operations are the runtime's, in the same order.
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from snnrt import contract
from snnrt.signed_neuron import signed_levels
from snnrt.validate import compensation_body, if_attributes, signed_attributes

from ..errors import UnsupportedModelError

TIME_LOOPS = ("unrolled", "scan")


class GraphBuilder:
    """Collects new nodes and constants; every name it makes is new to the graph."""

    def __init__(self, taken, timesteps):
        self.taken = set(taken)
        self.timesteps = timesteps
        self.nodes = []
        self.initializers = []
        self._constants = {}

    def fresh(self, hint):
        name, i = hint, 0
        while name in self.taken:
            i += 1
            name = f"{hint}_{i}"
        self.taken.add(name)
        return name

    def const(self, value, dtype=np.int64):
        """The name of an initializer holding ``value`` (one per distinct value)."""
        array = np.asarray(value, dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self.fresh("export_const")
            self.initializers.append(numpy_helper.from_array(array, self._constants[key]))
        return self._constants[key]

    def op(self, op_type, inputs, hint, outputs=1, out=None, **attrs):
        """Append a node; its output's name (``out`` if given), or a list of ``outputs`` names."""
        names = [out] if out else [self.fresh(f"{hint}/{op_type}") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, self.fresh(f"{hint}/{op_type}"), **attrs))
        return names[0] if outputs == 1 else names


def unfold(b, x, hint):
    """(T*N, ...) -> (T, N, ...)."""
    rest = b.op("Shape", [x], hint, start=1)
    shape = b.op("Concat", [b.const([b.timesteps, -1]), rest], hint, axis=0)
    return b.op("Reshape", [x, shape], hint)


def fold(b, y, hint, out=None):
    """(T, N, ...) -> (T*N, ...)."""
    rest = b.op("Shape", [y], hint, start=2)
    shape = b.op("Concat", [b.const([-1]), rest], hint, axis=0)
    return b.op("Reshape", [y, shape], hint, out=out)


def tile(b, x, hint):
    """(N, ...) -> (T*N, ...): the same value at every step."""
    shape = b.op("Concat", [b.const([b.timesteps]), b.op("Shape", [x], hint)], hint, axis=0)
    return fold(b, b.op("Expand", [b.op("Unsqueeze", [x, b.const([0])], hint), shape], hint), hint)


def _channel_shaped(node, values, channel_axis, shape, extra=None):
    """``values`` (one, or one per channel) shaped to broadcast along the node's channel axis of an input of the
    declared ``shape`` (None when unknown; ``extra``: what else needs it, for the message)."""
    rank = None if shape is None else len(shape)
    if (values[0].size > 1 and rank is None) or extra:
        need = extra or "its input rank (per-channel thresholds)"
        raise UnsupportedModelError(
            f"node {node.name!r} ({node.op_type}) needs {need}, which the SNN file does not declare; run ONNX "
            "shape inference on it (onnx.shape_inference.infer_shapes) with a fixed input size and export again"
        )
    param_shape = []
    if values[0].size > 1:
        axis = channel_axis % rank
        param_shape = [values[0].size] + [1] * (rank - 1 - axis)
    return [v.reshape(param_shape) for v in values]


def _if_parameters(b, node, shape):
    """A step function (see _if_step), the constant v_init shaped to broadcast along the node's channel axis, and
    the shift of v after the first step (v_spread, over the whole neuron shape) or None. ``shape``: the input's
    declared shape or None."""
    theta, v_init, reset, channel_axis, spread = if_attributes(node)
    neurons = None if shape is None or not all(isinstance(d, int) for d in shape[1:]) else tuple(shape[1:])
    missing = f"its input's size ({contract.ATTR_SPREAD})" if spread and neurons is None else None
    theta, v_init = _channel_shaped(node, [theta, v_init], channel_axis, shape, missing)
    shift = b.const(spread * theta * contract.spread_offsets(neurons), np.float32) if spread else None
    theta = b.const(theta, np.float32)

    def step(b, v, x, hint, names=None):
        return _if_step(b, v, x, theta, reset, hint, names)

    return step, b.const(v_init, np.float32), shift


def _if_step(b, v, x, theta, reset, hint, names=None):
    """One IF step on the membrane v: (spikes, new v). ``names``: the names of the spikes and the new v."""
    names = names or [None] * 2
    v = b.op("Add", [v, x], hint)
    fired = b.op("GreaterOrEqual", [v, theta], hint)
    spikes = b.op("Mul", [b.op("Cast", [fired], hint, to=TensorProto.FLOAT), theta], hint, out=names[0])
    if reset == contract.RESET_SUBTRACT:
        return spikes, b.op("Sub", [v, spikes], hint, out=names[1])
    return spikes, b.op("Where", [fired, b.const(0.0, np.float32), v], hint, out=names[1])


def _signed_parameters(b, node, shape):
    """As _if_parameters for a SignedIFNeuron (no shift): its step, after snnrt.signed_neuron."""
    theta, v_init, levels, channel_axis = signed_attributes(node)
    theta, v_init = _channel_shaped(node, [theta, v_init], channel_axis, shape)
    sizes = signed_levels(theta, levels)
    half = b.const(theta / 2, np.float32)
    thresholds = [(b.const(size, np.float32), b.const(size / 2, np.float32)) for size in sizes]
    zero = b.const(0.0, np.float32)

    def step(b, v, x, hint, names=None):
        names = names or [None] * 2
        v = b.op("Add", [v, x], hint)
        distance = b.op("Sub", [v, half], hint)
        reach = b.op("Abs", [distance], hint)
        size = zero
        for level, half_level in reversed(thresholds):  # the largest level whose half the distance reaches wins
            size = b.op("Where", [b.op("GreaterOrEqual", [reach, half_level], hint), level, size], hint)
        spikes = b.op("Mul", [b.op("Sign", [distance], hint), size], hint, out=names[0])
        return spikes, b.op("Sub", [v, spikes], hint, out=names[1])

    return step, b.const(v_init, np.float32), None


def _if_unrolled(b, x, static, params, hint, out):
    """T copies of the neuron's step; a static x (N, ...) is read as it is at every step."""
    step, v_init, shift = params
    steps = b.timesteps
    if static:
        inputs = [x] * steps
    else:
        inputs = b.op("Split", [unfold(b, x, hint), b.const([1] * steps)], hint, outputs=steps, axis=0)
        inputs = [inputs] if steps == 1 else inputs
    v, spikes = v_init, []
    for t, x_t in enumerate(inputs):
        s, v = step(b, v, x_t, f"{hint}/t{t}")
        v = b.op("Add", [v, shift], hint) if t == 0 and shift else v
        spikes.append(s)
    if static:
        return b.op("Concat", spikes, hint, out=out, axis=0)
    return fold(b, b.op("Concat", spikes, hint, axis=0), hint, out=out)


def _scan(b, v0, xs, x_static, step, hint):
    """Spikes (steps, N, ...) of one Scan over the slices of xs, the membrane (from v0) as its state; with
    ``x_static`` (N, ...) the step reads it from the outer scope and xs is a dummy that sets the steps."""
    outer = b.nodes
    b.nodes = []
    v_in, x_t = b.fresh(f"{hint}/v_in"), b.fresh(f"{hint}/x_t")
    names = [b.fresh(f"{hint}/{n}") for n in ("spikes", "v_out")]
    step(b, v_in, x_static or x_t, hint, names)
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in (v_in, x_t, names[1], names[0])]
    body = helper.make_graph(b.nodes, f"{hint}/step", value[:2], value[2:])
    b.nodes = outer
    return b.op("Scan", [v0, xs], hint, outputs=2, num_scan_inputs=1, body=body)[1]


def _if_scan(b, x, static, params, hint, out):
    """A Scan over the T slices of x (T, N, ...); a static x (N, ...) is read from the outer scope at every
    step. With a shift after step 1 (v_spread), step 1 runs before the Scan, which takes the other steps."""
    step, v_init, shift = params
    steps, x_static = b.timesteps, x if static else None
    xs = b.const(np.zeros(steps), np.float32) if static else unfold(b, x, hint)
    v0 = b.op("Expand", [v_init, b.op("Shape", [x], hint) if static else b.op("Shape", [xs], hint, start=1)], hint)
    if not shift:
        return fold(b, _scan(b, v0, xs, x_static, step, hint), hint, out=out)
    first = x if static else b.op("Gather", [xs, b.const(0)], hint, axis=0)
    s, v = step(b, v0, first, f"{hint}/t0")
    spikes = [b.op("Unsqueeze", [s, b.const([0])], hint)]
    if steps > 1:
        rest = b.op("Slice", [xs, b.const([1]), b.const([steps]), b.const([0])], hint)
        spikes.append(_scan(b, b.op("Add", [v, shift], hint), rest, x_static, step, hint))
    return fold(b, b.op("Concat", spikes, hint, axis=0), hint, out=out)


def if_over_time(b, node, x, static, shape, time_loop):
    """An IFNeuron or SignedIFNeuron over T steps on x: (T*N, ...), or (N, ...) when ``static`` (the same at every
    step); ``shape``: the declared shape of the node's input (None when unknown)."""
    build = _if_unrolled if time_loop == "unrolled" else _if_scan
    parameters = _signed_parameters if node.op_type == contract.SIGNED_IF_OP else _if_parameters
    return build(b, x, static, parameters(b, node, shape), node.name, node.output[0])


def spike_max_pool(b, node, s):
    """SpikeMaxPool on spikes s (T*N, ...): y[t] = maxpool(C[t]) - maxpool(C[t-1]), C the cumulative sum."""
    hint = node.name
    total = b.op("CumSum", [unfold(b, s, hint), b.const(0)], hint)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    pooled = unfold(b, b.op("MaxPool", [fold(b, total, hint)], hint, **attrs), hint)
    return fold(b, _step_changes(b, pooled, hint), hint, out=node.output[0])


def _times_step(b, y, op, hint, out=None):
    """y (T, N, ...) with each slice t (1-based) combined with t by ``op`` ("Mul" or "Div")."""
    steps = b.timesteps
    flat = b.op("Reshape", [y, b.const([steps, -1])], hint)
    counts = b.const(np.arange(1, steps + 1).reshape(steps, 1), np.float32)
    return b.op("Reshape", [b.op(op, [flat, counts], hint), b.op("Shape", [y], hint)], hint, out=out)


def _step_changes(b, y, hint):
    """y (T, N, ...) -> its changes y[t] - y[t-1] (T, N, ...), y[0] first."""
    steps, axis0 = b.timesteps, b.const([0])

    def steps_slice(start, end):
        return b.op("Slice", [y, b.const([start]), b.const([end]), axis0], hint)

    if steps == 1:
        return y
    change = b.op("Sub", [steps_slice(1, steps), steps_slice(0, steps - 1)], hint)
    return b.op("Concat", [steps_slice(0, 1), change], hint, axis=0)


def expectation_compensation(b, node, xs):
    """An ExpectationCompensation unit on its inputs xs, each (T*N, ...): y[t] = t·f(m[t]) − (t−1)·f(m[t−1]), m[t]
    the mean of each input over steps 1..t; f, the node's body, runs in a Scan on one step's means at a time, as in
    the runtime (the body may treat the batch axis as it likes)."""
    hint = node.name
    body = compensation_body(node)
    b.taken.update(name for n in body.node for name in [*n.input, *n.output, n.name])
    b.taken.update(v.name for v in [*body.input, *body.output, *body.initializer])
    means = [_times_step(b, b.op("CumSum", [unfold(b, x, hint), b.const(0)], hint), "Div", hint) for x in xs]
    values = b.op("Scan", means, hint, num_scan_inputs=len(means), body=body)
    return fold(b, _step_changes(b, _times_step(b, values, "Mul", hint), hint), hint, out=node.output[0])


def spike_count(b, s, out):
    """Number of nonzero elements of s, an int64 scalar."""
    nonzero = b.op("Not", [b.op("Equal", [s, b.const(0.0, np.float32)], out)], out)
    return b.op("ReduceSum", [b.op("Cast", [nonzero], out, to=TensorProto.INT64)], out, out=out, keepdims=0)


def anytime_means(b, y, out=None):
    """(T*N, ...) -> (T, N, ...): mean of y over steps 1..t, after each step t (the runtime's anytime output)."""
    hint = "anytime"
    return _times_step(b, b.op("CumSum", [unfold(b, y, hint), b.const(0)], hint), "Div", hint, out=out)
