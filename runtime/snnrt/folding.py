"""Which values of a graph change over time, and whether time can be folded into the batch.

A simulation runs the graph on several steps at once by folding time into the batch axis: a value that
changes over time is laid out (steps * N, ...) with time outermost. Values that do not depend on a
stateful layer (under direct encoding: the input and everything computed from it alone) stay (N, ...)
and are computed once; where a time-varying node reads one of them, it is tiled over time.

Folding is valid when every time-varying node treats axis 0 as an independent batch. ``FoldingPlan``
lists the nodes that do not (a transpose of axis 0, a reduction over it, a hard-coded batch size in a
reshape, a shape read from a value that is not folded, ...) so that the caller can fall back to one step
at a time.
"""

from dataclasses import dataclass, field

SHAPE_OPS = ("Shape", "Size")
AXIS_OPS = ("Concat", "Split", "Gather", "Softmax", "LogSoftmax", "Hardmax", "CumSum", "ArgMax", "ArgMin",
            "Flatten", "Compress")
REDUCE_OPS = ("ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")


@dataclass
class FoldingPlan:
    """``varying``: names of time-varying values; ``varying_nodes``: their node indices; ``batched_static``:
    values with a batch axis that do not vary; ``problems``: why folding is invalid (empty when valid)."""

    varying: set = field(default_factory=set)
    varying_nodes: set = field(default_factory=set)
    batched_static: set = field(default_factory=set)
    problems: list = field(default_factory=list)


def folding_plan(nodes, layers, input_names, inputs_vary):
    """The plan for a graph whose inputs are constant in time (direct encoding) or not (``inputs_vary``)."""
    plan = FoldingPlan()
    derived, shape_like = set(input_names), set()
    if inputs_vary:
        plan.varying.update(input_names)
    for step, (node, layer) in enumerate(zip(nodes, layers)):
        inputs = [name for name in node.inputs if name]
        if not any(name in derived for name in inputs):
            continue
        derived.update(node.outputs)
        computed = [name for name in inputs if name in derived]
        if node.op_type in SHAPE_OPS or all(name in shape_like for name in computed):
            shape_like.update(node.outputs)
        if hasattr(layer, "reset_state") or any(name in plan.varying for name in inputs):
            plan.varying_nodes.add(step)
            plan.varying.update(node.outputs)
            problem = _batch_axis_problem(node, inputs, plan.varying, shape_like)
            if problem:
                plan.problems.append(f"node {node.name!r} ({node.op_type}): {problem}")
    plan.batched_static = derived - shape_like - plan.varying
    return plan


def _batch_axis_problem(node, inputs, varying, shape_like):
    static_shapes = [n for n in inputs if n in shape_like and n not in varying]
    if static_shapes:
        return f"reads the shape of a value that is not folded ({static_shapes[0]!r})"
    op, attr = node.op_type, node.attr
    if op == "If":
        return "control flow on time-varying values"
    if op == "Transpose" and (attr("perm") or [1])[0] != 0:
        return "moves the batch axis"
    if op == "Gemm" and attr("transA", 0):
        return "transposes the batch axis"
    if op in AXIS_OPS and attr("axis", 1 if op == "Flatten" else 0) == 0:
        return "works along the batch axis"
    if op in REDUCE_OPS:
        axes = attr("axes")
        if axes is None and node.has_input(1):
            axes = node.const(1)
        if axes is None or 0 in list(axes):
            return "reduces over the batch axis"
    if op in ("Squeeze", "Unsqueeze", "Slice"):
        axes = attr("axes")
        if axes is None:
            axes = node.const(3 if op == "Slice" else 1)
        if axes is None or 0 in list(axes):
            return "changes the batch axis"
    target = node.const(1) if op in ("Reshape", "Expand", "Tile") else None
    if target is not None and len(target) and target[0] not in ((0, -1) if op == "Reshape" else (1,)):
        return f"sets the batch axis to {int(target[0])}"
    return None
