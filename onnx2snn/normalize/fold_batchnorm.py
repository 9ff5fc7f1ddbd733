"""BatchNormalization after Conv or Gemm becomes a per-channel Mul and Add, which fold_affine folds.

Written here rather than using onnxoptimizer's fuse_bn_into_conv: that pass handles Conv only, while
BatchNorm1d after Linear (Gemm) is common, and one mechanism (fold_affine) then serves both and also the
Mul+Add form in which some exporters already write BatchNorm.
"""

import numpy as np
import onnx_graphsurgeon as gs

from .graph_edits import single_consumer

FOLDABLE_PRODUCERS = ("Conv", "Gemm", "ConvTranspose")


def fold_batchnorm(model):
    """Rewrite y = scale (x - mean) / sqrt(var + eps) + bias as y = x * s + (bias - mean * s)."""
    graph = gs.import_onnx(model)
    changed = False
    for node in [n for n in graph.nodes if n.op == "BatchNormalization"]:
        x = node.inputs[0]
        params = node.inputs[1:5]
        if not all(isinstance(p, gs.Constant) for p in params) or any(o.outputs for o in node.outputs[1:]):
            continue
        if not x.inputs or x.inputs[0].op not in FOLDABLE_PRODUCERS or single_consumer(x) is not node:
            continue
        scale, bias, mean, var = (p.values.astype(np.float64) for p in params)
        s = scale / np.sqrt(var + node.attrs.get("epsilon", 1e-5))
        shift = bias - mean * s
        rank = len(x.shape) if x.shape is not None else (2 if x.inputs[0].op == "Gemm" else 4)
        view = (-1,) + (1,) * (rank - 2)
        dtype = params[0].values.dtype
        mul_out = gs.Variable(f"{node.outputs[0].name}_scaled", dtype=x.dtype)
        out = node.outputs[0]
        node.outputs.clear()
        graph.layer(op="Mul", name=f"{node.name}_mul", inputs=[x, gs.Constant(f"{node.name}_s", s.reshape(view).astype(dtype))],
                    outputs=[mul_out])
        graph.layer(op="Add", name=f"{node.name}_add",
                    inputs=[mul_out, gs.Constant(f"{node.name}_shift", shift.reshape(view).astype(dtype))], outputs=[out])
        changed = True
    if not changed:
        return model
    graph.cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
