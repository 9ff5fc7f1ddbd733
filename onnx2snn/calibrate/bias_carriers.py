"""Where a per-channel current added to an IF layer's input can be written: the bias of the Conv or Gemm that
computes that input (directly, or as one addend of an Add), so that layer-wise calibration
(onnx2snn.calibrate.layerwise) changes no op and no runtime contract."""

import numpy as np
from onnx import numpy_helper

from snnrt import contract
from snnrt.node import subgraph_references

BIASED_OPS = {"Conv": 2, "Gemm": 2}  # op -> index of its bias input


def consumers(graph):
    """{value name: how many nodes (and subgraphs of nodes) and graph outputs read it}."""
    counts = {}
    for node in graph.node:
        for name in [*node.input, *subgraph_references(node)]:
            counts[name] = counts.get(name, 0) + 1
    for output in graph.output:
        counts[output.name] = counts.get(output.name, 0) + 1
    return counts


def carrier_of(node, initializers, channels):
    """The (node, bias input index) that carries a bias of ``channels`` values for ``node``'s output, or None."""
    index = BIASED_OPS.get(node.op_type)
    if index is None or node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Gemm" and any(a.name == "beta" and a.f != 1.0 for a in node.attribute):
        return None
    if len(node.input) > index and node.input[index]:
        bias = initializers.get(node.input[index])
        if bias is None or int(np.prod(bias.dims)) != channels:
            return None
    return node, index


def find_bias_carriers(snn, channels):
    """{IF node name: (producer node, bias input index)} for the IF nodes of the ModelProto ``snn`` whose input
    current comes from a Conv or Gemm that nothing else reads (possibly through an Add). ``channels``: IF node
    name -> the channel count of its input (axis 1)."""
    graph = snn.graph
    readers = consumers(graph)
    producers = {out: node for node in graph.node for out in node.output}
    initializers = {t.name: t for t in graph.initializer}
    found = {}
    for node in graph.node:
        if node.op_type != contract.IF_OP or node.domain != contract.DOMAIN or node.name not in channels:
            continue
        current = node.input[0]
        producer = producers.get(current)
        if producer is None or readers.get(current) != 1:
            continue
        candidates = [producer]
        if producer.op_type == "Add":
            candidates = [producers[name] for name in producer.input
                          if name in producers and readers.get(name) == 1]
        for candidate in candidates:
            carrier = carrier_of(candidate, initializers, channels[node.name])
            if carrier is not None:
                found[node.name] = carrier
                break
    return found


def add_bias(snn, carrier, delta):
    """Add the per-channel ``delta`` to the bias of ``carrier`` = (node, bias index) in ``snn``: the node gets a
    bias of its own (zeros plus ``delta`` where it had none), and a bias that no other node reads is dropped."""
    node, index = carrier
    graph = snn.graph
    delta = np.asarray(delta, np.float32).reshape(-1)
    old = node.input[index] if len(node.input) > index else ""
    tensor = next((t for t in graph.initializer if t.name == old), None) if old else None
    value = delta if tensor is None else numpy_helper.to_array(tensor).astype(np.float32) + delta.reshape(tensor.dims)
    name = f"{node.name}_calibrated_bias"
    graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), name))
    while len(node.input) <= index:
        node.input.append("")
    node.input[index] = name
    if tensor is not None and not any(old in other.input for other in graph.node):
        graph.initializer.remove(tensor)
