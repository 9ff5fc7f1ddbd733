"""Which values of a graph change over time, and whether time can be folded into the batch.

A simulation runs the graph on several steps at once by folding time into the batch axis: a value that
changes over time is laid out (steps * N, ...) with time outermost. Values that do not depend on a
stateful layer (under direct encoding: the input and everything computed from it alone) stay (N, ...)
and are computed once; where a time-varying node reads one of them, it is tiled over time.

Folding is valid when every time-varying node treats axis 0 as an independent batch (snnrt.batch_axis).
``FoldingPlan`` lists the nodes that do not (a transpose of axis 0, a reduction over it, a hard-coded
batch size in a reshape, a shape read from the batch, ...) so that the caller can fall back to one step
at a time.
"""

from dataclasses import dataclass, field

from .batch_axis import SHAPE_OPS, batch_axis_problem

@dataclass
class FoldingPlan:
    """``varying``: names of time-varying values; ``varying_nodes``: their node indices; ``batched_static``:
    values with a batch axis that do not vary; ``problems``: why folding is invalid (empty when valid)."""

    varying: set = field(default_factory=set)
    varying_nodes: set = field(default_factory=set)
    batched_static: set = field(default_factory=set)
    problems: list = field(default_factory=list)


def folding_plan(nodes, layers, input_names, inputs_vary, constants, ranks):
    """The plan for a graph whose inputs are constant in time (direct encoding) or not (``inputs_vary``).

    ``constants``: constant values by name; ``ranks``: known ranks of values by name (for negative axes).
    """
    plan = FoldingPlan()
    derived, shape_like, mixed = set(input_names), set(), set()
    if inputs_vary:
        plan.varying.update(input_names)
    for step, (node, layer) in enumerate(zip(nodes, layers)):
        inputs = [name for name in node.inputs if name]
        if not any(name in derived for name in inputs):
            continue
        derived.update(node.outputs)
        computed = [name for name in inputs if name in derived]
        shape = node.op_type in SHAPE_OPS or all(name in shape_like for name in computed)
        if shape:
            shape_like.update(node.outputs)
        stateful = hasattr(layer, "reset_state")
        check = not (stateful or shape)
        problem = _problem(node, derived - shape_like - mixed, constants, ranks) if check else None
        across = [name for name in inputs if name in mixed]
        if stateful or any(name in plan.varying for name in inputs):
            if across:
                problem = f"reads {across[0]!r}, which is computed across the samples of the batch"
            if problem:
                plan.problems.append(f"node {node.name!r} ({node.op_type}): {problem}")
            plan.varying_nodes.add(step)
            plan.varying.update(node.outputs)
        elif problem or across:
            mixed.update(node.outputs)
    plan.batched_static = derived - shape_like - mixed - plan.varying
    return plan


def _problem(node, batched, constants, ranks):
    folded = [i for i, name in enumerate(node.inputs[: node.declared_inputs]) if name in batched]
    rank = ranks.get(node.inputs[folded[0]]) if folded else None
    return batch_axis_problem(node.proto, folded, rank, constants)
