"""MatMul of a 2-D input by a constant matrix (plus a constant bias) becomes one Gemm.

Written here because onnxoptimizer's fuse_matmul_add_bias_into_gemm skips inputs whose batch
dimension is symbolic, which is what every dynamic-batch export has.
"""

import numpy as np
import onnx_graphsurgeon as gs

from .graph_edits import constant_input, single_consumer


def _bias(matmul, channels):
    """(Add node, bias vector) when the MatMul's only reader adds a constant per-column bias."""
    add = single_consumer(matmul.outputs[0])
    if add is None or add.op != "Add":
        return None, None
    value = constant_input(add, matmul.outputs[0])
    if value is None or value.size not in (1, channels) or value.ndim > 2 or (value.ndim == 2 and value.shape[0] != 1):
        return None, None
    return add, np.broadcast_to(value.reshape(-1), (channels,)).astype(value.dtype)


def canonicalize_gemm(model):
    """Y = X W (+ b) with X of rank 2 and W, b constant  ->  Gemm(X, W, b)."""
    graph = gs.import_onnx(model)
    changed = False
    for node in [n for n in graph.nodes if n.op == "MatMul"]:
        x, w = node.inputs
        if not isinstance(w, gs.Constant) or w.values.ndim != 2 or x.shape is None or len(x.shape) != 2:
            continue
        add, bias = _bias(node, w.values.shape[1])
        node.op, node.attrs = "Gemm", {}
        if add is not None:
            node.inputs.append(gs.Constant(f"{node.name}_bias", bias))
            out = add.outputs[0]
            add.outputs.clear()
            node.outputs = [out]
        changed = True
    if not changed:
        return model
    graph.cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
