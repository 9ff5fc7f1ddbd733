"""Fold every subgraph whose inputs are all constant (ConstantOfShape, Shape of static dims, ...), within a size
limit: a value whose declared shape asks for more is refused before anything computes it."""

import onnx_graphsurgeon as gs

from ..load.limits import FOLD_LIMIT, check_fold_sizes


def fold_constants(model):
    """onnx-graphsurgeon's constant folding (evaluated with ONNX Runtime), then cleanup and sort."""
    import onnxruntime as ort  # here: loading a file (onnx2snn.load.model) imports this package, not ONNX Runtime

    check_fold_sizes(model)
    ort.set_default_logger_severity(3)
    graph = gs.import_onnx(model)
    graph.fold_constants(error_ok=True, size_threshold=FOLD_LIMIT).cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
