"""Which blocking nodes become ExpectationCompensation units (snnrt.contract), and the body each one computes.

A unit computes a function of the values that follow the input. A node with one such input (Sigmoid, GELU,
LayerNorm, a Softmax inside the network) is a unit by itself. A node that combines several (SiLU's x *
sigmoid(x), GELU written as x * (1 + erf(x / sqrt 2)) / 2, attention's Q·Kᵀ and A·V when Q, K and V are
split from one projection) becomes one unit of one input with the nodes between it and the nearest value that
all of its inputs come from; weight layers and activation sites stay outside, so their cost is still counted.
Where its inputs have no such value in common (a squeeze-excitation gate x * g, g computed from x through weight
layers) or the nodes between would read a value from outside the unit (torchvision's attention reshapes Q, K and V
to sizes read from the projection's input), the node alone becomes a unit of several inputs, one per value it
reads: for a product, the product of the means of its factors.
Nodes on shapes only that the unit reads (attention's 1/sqrt(d)) go inside. A unit whose inside values are read
outside it, or that would need a weight layer inside, is not formed: its node stays a blocker.
"""

from dataclasses import dataclass

import onnx
import onnx_graphsurgeon as gs
from onnx import helper, numpy_helper

from snnrt import contract
from snnrt.stats import WEIGHT_OPS

from .blockers import varying_values


@dataclass
class Compensation:
    """One unit: ``nodes`` (names, graph order) compute ``output`` from ``inputs`` (value names, the unit's order)."""

    name: str
    inputs: list
    output: str
    nodes: list
    ops: list

    @property
    def computes(self):
        """The ops inside, e.g. "Div+Erf+Add+Mul"."""
        return "+".join(self.ops)


def _inside_allowed(node, excluded):
    weight_layer = node.op in WEIGHT_OPS and len(node.inputs) > 1 and isinstance(node.inputs[1], gs.Constant)
    return id(node) not in excluded and not weight_layer


def _producer(tensor):
    return tensor.inputs[0] if tensor.inputs else None


def _ancestors(tensor, varying, excluded, stop):
    """The varying tensors that ``tensor`` is computed from through nodes allowed inside a unit (itself
    included), with the nodes passed; ``stop``: ids of nodes not to pass."""
    tensors, nodes, stack = {tensor.name: tensor}, {}, [tensor]
    while stack:
        producer = _producer(stack.pop())
        if producer is None or id(producer) in stop or not _inside_allowed(producer, excluded):
            continue
        nodes[id(producer)] = producer
        for t in producer.inputs:
            if t.name in varying and t.name not in tensors:
                tensors[t.name] = t
                stack.append(t)
    return tensors, nodes


def _support(nodes, sources, varying, excluded):
    """The non-varying nodes that ``nodes`` read (shape arithmetic), recursively, or None when one reads a value
    computed outside from something other than constants and the tensors ``sources``."""
    inside, given = {id(n) for n in nodes}, {id(t) for t in sources}
    support, stack = [], [t for n in nodes for t in n.inputs]
    while stack:
        tensor = stack.pop()
        producer = _producer(tensor)
        if isinstance(tensor, gs.Constant) or id(tensor) in given or producer is None and not tensor.name:
            continue
        if producer is None:
            return None
        if id(producer) in inside:
            continue
        if tensor.name in varying or not _inside_allowed(producer, excluded):
            return None
        inside.add(id(producer))
        support.append(producer)
        stack.extend(producer.inputs)
    return support


def _closed(region, last, graph_outputs):
    """Whether only the first output of ``last`` has readers outside ``region`` (or is a graph output)."""
    inside = {id(n) for n in region}
    for node in region:
        for out in node.outputs[1:] if node is last else node.outputs:
            if out in graph_outputs or any(id(reader) not in inside for reader in out.outputs):
                return False
    return True


def _region(node, varying, excluded, graph):
    """(source tensor, region nodes in graph order) of the unit that computes ``node``, or None."""
    inputs = list({t.name: t for t in node.inputs if t.name in varying}.values())
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    walks = [_ancestors(t, varying, excluded, {id(node)}) for t in inputs]
    common = set(walks[0][0]).intersection(*(set(tensors) for tensors, _ in walks[1:]))
    passed = sorted({id(n): n for _, nodes in walks for n in nodes.values()}.values(), key=lambda n: order[id(n)])
    latest_first = sorted((walks[0][0][name] for name in common), reverse=True,
                          key=lambda t: order[id(_producer(t))] if _producer(t) is not None else -1)
    for source in latest_first:
        region = _between(source, node, passed, varying)
        support = None if region is None else _support(region, [source], varying, excluded)
        if support is None:
            continue
        nodes = sorted(region + support, key=lambda n: order[id(n)])
        if _closed(nodes, node, graph.outputs):
            return [source], nodes
    return None


def _alone(node, varying, excluded, graph):
    """(the varying values ``node`` reads, the node and its shape arithmetic in graph order): the unit of several
    inputs that computes ``node`` by itself, or None."""
    inputs = list({t.name: t for t in node.inputs if t.name in varying}.values())
    support = _support([node], inputs, varying, excluded)
    if support is None:
        return None
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    nodes = sorted([node, *support], key=lambda n: order[id(n)])
    return (inputs, nodes) if _closed(nodes, node, graph.outputs) else None


def _between(source, last, passed, varying):
    """The nodes of ``passed`` (graph order) on the varying paths from ``source`` to ``last``, and ``last``; None
    when one of them reads a varying value that does not come from ``source``."""
    reached, region = {source.name}, []
    for node in passed:
        if any(t.name in reached for t in node.inputs):
            region.append(node)
            reached.update(t.name for t in node.outputs)
    region.append(last)
    if any(t.name in varying and t.name not in reached for n in region for t in n.inputs):
        return None
    return region


def compensations(graph, blocking, claimed):
    """The units for the compensable Blockers ``blocking`` of ``graph`` (``claimed``: ids of the nodes that
    activation sites replace); returns (units, Blockers left)."""
    varying = varying_values(graph)
    excluded = set(claimed) | {id(b.node) for b in blocking if not b.compensable}
    units, covered = [], set()
    for blocker in reversed(blocking):
        node = blocker.node
        if id(node) in covered or not blocker.compensable:
            continue
        found = _region(node, varying, excluded, graph) or _alone(node, varying, excluded, graph)
        if found is None or any(id(n) in covered for n in found[1]):
            continue
        inputs, nodes = found
        covered.update(id(n) for n in nodes)
        units.append(Compensation(f"{node.name}_ec", [t.name for t in inputs], node.outputs[0].name,
                                  [n.name for n in nodes], [n.op for n in nodes]))
    left = [b for b in blocking if id(b.node) not in covered]
    return units[::-1], left


def _body(model, unit):
    """The body graph of ``unit``: its nodes copied from ``model``, every name prefixed with the unit's, the
    constants they read as initializers."""
    prefix = f"{unit.name}/"
    protos = {n.name: n for n in model.graph.node}
    constants = {t.name: t for t in model.graph.initializer}
    nodes, used = [], set()
    for name in unit.nodes:
        proto = onnx.NodeProto()
        proto.CopyFrom(protos[name])
        used.update(i for i in proto.input if i in constants)
        proto.input[:] = [prefix + i if i else "" for i in proto.input]
        proto.output[:] = [prefix + o if o else "" for o in proto.output]
        proto.name = prefix + proto.name
        nodes.append(proto)
    initializers = [numpy_helper.from_array(numpy_helper.to_array(constants[n]), prefix + n) for n in sorted(used)]
    return helper.make_graph(nodes, unit.name,
                             [helper.make_tensor_value_info(prefix + name, onnx.TensorProto.FLOAT, None)
                              for name in unit.inputs],
                             [helper.make_tensor_value_info(prefix + unit.output, onnx.TensorProto.FLOAT, None)],
                             initializers)


def insert_compensations(snn, ann, units, opset):
    """Replace in ``snn`` (a ModelProto, changed in place) the nodes of every unit by one ExpectationCompensation
    node, where the unit's last node was; the bodies come from ``ann`` (the normalized ANN)."""
    for unit in units:
        inside = set(unit.nodes)
        position = next(i for i, n in enumerate(snn.graph.node) if n.name == unit.nodes[-1])
        node = helper.make_node(contract.COMPENSATION_OP, unit.inputs, [unit.output], unit.name,
                                domain=contract.DOMAIN, body=_body(ann, unit), body_opset=opset)
        nodes = list(snn.graph.node)
        del snn.graph.node[:]
        snn.graph.node.extend([n for n in nodes[:position] if n.name not in inside] + [node]
                              + [n for n in nodes[position + 1:] if n.name not in inside])
    produced = {o for n in snn.graph.node for o in n.output}
    used = {i for n in snn.graph.node for i in n.input}
    for field, keep in ((snn.graph.initializer, used), (snn.graph.value_info, produced)):
        kept = [v for v in field if v.name in keep]
        del field[:]
        field.extend(kept)
