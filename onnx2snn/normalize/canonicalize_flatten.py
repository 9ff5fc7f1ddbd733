"""Reshape to (batch, -1), in any of the forms exporters write, becomes Flatten(axis=1).

Forms recognized: a constant target [0, -1], [-1, K] or [0, K] with K the product of the non-batch
dims, and the dynamic-batch chain Concat(Unsqueeze(Gather(Shape(x), 0)), [-1 or K]).
Written here because no maintained optimizer turns these into Flatten; later passes and the SNN
rewrite then see one form.
"""

import numpy as np
import onnx_graphsurgeon as gs


def _is_batch_of(tensor, x):
    """True if tensor is x's dim 0 computed as [Unsqueeze|Cast]*(Gather(Shape(x), 0))."""
    while tensor.inputs and tensor.inputs[0].op in ("Unsqueeze", "Cast", "Reshape"):
        tensor = tensor.inputs[0].inputs[0]
    if not tensor.inputs or tensor.inputs[0].op not in ("Gather", "Slice"):
        return False
    source = tensor.inputs[0]
    shape_node = source.inputs[0].inputs[0] if source.inputs[0].inputs else None
    if shape_node is None or shape_node.op != "Shape" or shape_node.inputs[0] is not x:
        return False
    if source.op == "Gather":
        index = source.inputs[1]
        return isinstance(index, gs.Constant) and int(np.asarray(index.values).reshape(-1)[0]) == 0
    starts, ends = source.inputs[1], source.inputs[2]
    return all(isinstance(t, gs.Constant) for t in (starts, ends)) and (
        int(starts.values.reshape(-1)[0]) == 0 and int(ends.values.reshape(-1)[0]) == 1
    )


def _rest_matches(values, x):
    """[-1], or [K] where K is the product of x's non-batch dims."""
    values = [int(v) for v in np.asarray(values).reshape(-1)]
    if len(values) != 1:
        return False
    if values[0] == -1:
        return True
    dims = x.shape[1:] if x.shape is not None else None
    return bool(dims) and all(isinstance(d, int) for d in dims) and values[0] == int(np.prod(dims))


def _flattens(node):
    x, target = node.inputs[0], node.inputs[1]
    if x.shape is None or len(x.shape) < 2:
        return False
    if isinstance(target, gs.Constant):
        values = [int(v) for v in target.values.reshape(-1)]
        zero_copies = values[0] == 0 and not node.attrs.get("allowzero", 0)
        return len(values) == 2 and (zero_copies or values[0] == -1) and _rest_matches(values[1:], x) and (
            zero_copies or values[1] != -1
        )
    if node.attrs.get("allowzero", 0):
        return False
    if not target.inputs or target.inputs[0].op != "Concat" or len(target.inputs[0].inputs) != 2:
        return False
    batch, rest = target.inputs[0].inputs
    return _is_batch_of(batch, x) and isinstance(rest, gs.Constant) and _rest_matches(rest.values, x)


def canonicalize_flatten(model):
    """Replace every flattening Reshape by Flatten(axis=1); the shape chain becomes dead and is removed."""
    graph = gs.import_onnx(model)
    changed = False
    for node in [n for n in graph.nodes if n.op == "Reshape" and len(n.inputs) == 2]:
        if _flattens(node):
            node.op, node.attrs = "Flatten", {"axis": 1}
            node.inputs = node.inputs[:1]
            changed = True
    if not changed:
        return model
    graph.cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
