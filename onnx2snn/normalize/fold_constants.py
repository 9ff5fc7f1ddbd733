"""Fold every subgraph whose inputs are all constant (ConstantOfShape, Shape of static dims, ...)."""

import onnx_graphsurgeon as gs
import onnxruntime as ort


def fold_constants(model):
    """onnx-graphsurgeon's constant folding (evaluated with ONNX Runtime), then cleanup and sort."""
    ort.set_default_logger_severity(3)
    graph = gs.import_onnx(model)
    graph.fold_constants(error_ok=True).cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
