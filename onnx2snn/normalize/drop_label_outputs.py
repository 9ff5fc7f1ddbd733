"""Classifier exports (skl2onnx, ...) add integer label outputs next to the scores; the SNN keeps the scores.

The label is the arg-max of the scores, which the SNN's anytime output gives anyway; dropping it
removes ArgMax and ai.onnx.ml nodes that are not part of the network.
"""

import onnx

FLOAT_OUTPUTS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


def drop_label_outputs(model):
    """Remove non-float graph outputs when a float output remains, and the nodes only they used."""
    outputs = model.graph.output
    kept = [o for o in outputs if o.type.tensor_type.elem_type in FLOAT_OUTPUTS]
    if not kept or len(kept) == len(outputs):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.output[:]
    model.graph.output.extend(kept)
    needed = {o.name for o in kept}
    live = []
    for node in reversed(model.graph.node):
        if any(name in needed for name in node.output):
            live.append(node)
            needed.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(live))
    used_domains = {n.domain for n in live} | {""}
    ops = [o for o in model.opset_import if o.domain in used_domains or o.domain == "ai.onnx"]
    del model.opset_import[:]
    model.opset_import.extend(ops)
    return model
