"""Sum of several inputs (legacy exports of residual blocks) becomes a chain of binary Adds."""

import onnx_graphsurgeon as gs


def canonicalize_sum(model):
    """Sum(a) -> Identity(a) (removed by remove_noops); Sum(a, b, c, ...) -> Add(Add(a, b), c) ..."""
    graph = gs.import_onnx(model)
    sums = [n for n in graph.nodes if n.op == "Sum"]
    if not sums:
        return model
    for node in sums:
        terms, out = list(node.inputs), node.outputs[0]
        node.outputs.clear()
        acc = terms[0]
        for i, term in enumerate(terms[1:]):
            last = i == len(terms) - 2
            result = out if last else gs.Variable(f"{out.name}_partial{i}", dtype=out.dtype)
            graph.layer(op="Add", name=f"{node.name or out.name}_add{i}", inputs=[acc, term], outputs=[result])
            acc = result
        if len(terms) == 1:
            graph.layer(op="Identity", name=f"{node.name or out.name}_identity", inputs=[acc], outputs=[out])
    graph.cleanup().toposort()
    return gs.export_onnx(graph, do_type_check=False)
