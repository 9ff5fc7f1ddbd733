"""LeakyReLU and PReLU (constant slope a) become Relu(x) - a * Relu(-x): the same function, whose two ReLUs then
convert like any other, one IF neuron for the positive part and one for the negative part of x. The rate code
then carries negative values, with a threshold calibrated for each side."""

import numpy as np
import onnx_graphsurgeon as gs


def _slope(node):
    """The node's negative slope as a constant array, or None (a PRelu slope computed at run time)."""
    if node.op == "LeakyRelu":
        return np.asarray(node.attrs.get("alpha", 0.01), np.float32)
    slope = node.inputs[1]
    return np.asarray(slope.values) if isinstance(slope, gs.Constant) else None


def split_negative_slopes(model):
    """Every LeakyRelu, and every PRelu with a constant slope: y = Relu(x) - slope * Relu(Neg(x))."""
    graph = gs.import_onnx(model)
    changed = False
    for node in [n for n in graph.nodes if n.op in ("LeakyRelu", "PRelu")]:
        slope = _slope(node)
        if slope is None:
            continue
        x, out = node.inputs[0], node.outputs[0]
        node.outputs.clear()
        name = node.name
        positive = graph.layer(op="Relu", name=f"{name}_positive", inputs=[x], outputs=[f"{out.name}_positive"])[0]
        negated = graph.layer(op="Neg", name=f"{name}_neg", inputs=[x], outputs=[f"{out.name}_negated"])[0]
        negative = graph.layer(op="Relu", name=f"{name}_negative", inputs=[negated],
                               outputs=[f"{out.name}_negative"])[0]
        scaled = graph.layer(op="Mul", name=f"{name}_slope", inputs=[negative, slope.astype(np.float32)],
                             outputs=[f"{out.name}_scaled"])[0]
        graph.layer(op="Sub", name=f"{name}_combine", inputs=[positive, scaled], outputs=[out])
        changed = True
    if not changed:
        return model
    graph.cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
