"""Small onnx-graphsurgeon helpers shared by the passes."""

import numpy as np
import onnx_graphsurgeon as gs


def single_consumer(tensor):
    """The only node that reads ``tensor``, or None when there are several or it is a graph output."""
    return tensor.outputs[0] if len(tensor.outputs) == 1 else None


def constant_input(node, skip):
    """The one constant input of a binary node other than ``skip`` (numpy), or None."""
    others = [t for t in node.inputs if t is not skip]
    if len(others) != 1 or not isinstance(others[0], gs.Constant):
        return None
    return np.asarray(others[0].values)


def bypass(graph, node, replacement):
    """Make every reader of node's first output read ``replacement`` instead; the node becomes dead."""
    out = node.outputs[0]
    if out in graph.outputs:
        graph.outputs[graph.outputs.index(out)] = replacement
        replacement.name, out.name = out.name, replacement.name
    for consumer in list(out.outputs):
        consumer.inputs[consumer.inputs.index(out)] = replacement
    node.outputs.clear()
