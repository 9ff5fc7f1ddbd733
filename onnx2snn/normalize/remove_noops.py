"""Remove nodes that compute nothing at inference: Identity, Dropout, no-op Transpose/Pad/Reshape."""

import onnxoptimizer
import onnx_graphsurgeon as gs

from .graph_edits import bypass

_OPTIMIZER_PASSES = [
    "eliminate_identity",
    "eliminate_nop_transpose",
    "eliminate_nop_pad",
    "eliminate_nop_reshape",
    "eliminate_deadend",
    "eliminate_unused_initializer",
    "eliminate_duplicate_initializer",
]


def _remove_dropout(model):
    """Bypass every Dropout: ONNX inference (training_mode false) makes it the identity.

    Written here because onnxoptimizer's eliminate_nop_dropout only removes Dropouts with ratio 0.
    """
    graph = gs.import_onnx(model)
    for node in [n for n in graph.nodes if n.op == "Dropout"]:
        bypass(graph, node, node.inputs[0])
    graph.cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)


def remove_noops(model):
    """Dropout bypassed, then onnxoptimizer's elimination passes."""
    return onnxoptimizer.optimize(_remove_dropout(model), _OPTIMIZER_PASSES)
