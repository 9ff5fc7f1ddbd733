"""The sites an SNN and its ANN share: each IF node's input current and output, and where the ANN computes them.

onnx2snn.rewrite keeps the names: an IF node outputs the tensor that the ANN's activation output, and reads
the activation's input (or alpha * input + beta, through Mul/Add nodes that only the SNN has). The ANN is
normalized as conversion normalizes it, and the SNN's nodes between ANN tensors and an IF input are copied
into it, so that ONNX Runtime computes every IF node's input and output on the ANN's exact values.
"""

from dataclasses import dataclass

import numpy as np
import onnx

from snnrt import contract

from ..errors import ModelMismatchError
from ..load.model import load_model
from ..normalize import normalize


@dataclass
class Site:
    """One IF node: its name, the tensor it reads (current) and the one it writes (output = the ANN's site)."""

    name: str
    current: str
    output: str
    threshold: np.ndarray


def if_sites(snn):
    """The Sites of the IF nodes of an SNN ModelProto, in graph order."""
    sites = []
    for node in snn.graph.node:
        if node.op_type == contract.IF_OP and node.domain == contract.DOMAIN:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            sites.append(Site(node.name, node.input[0], node.output[0],
                              np.asarray(attrs[contract.ATTR_THRESHOLD], np.float32)))
    return sites


def ann_with_sites(ann_source, snn, sites, label="the ANN"):
    """The normalized ANN with what it needs to compute every site's current and output (see module doc)."""
    ann = load_model(ann_source)
    if any(node.domain == contract.DOMAIN for node in ann.graph.node):
        raise ModelMismatchError(f"{label} has IF nodes: give the ANN that the SNN was converted from as --ann")
    ann, _ = normalize(ann, source=ann_source)
    known = {t.name for t in ann.graph.initializer} | {i.name for i in ann.graph.input}
    known |= {name for node in ann.graph.node for name in node.output}
    for site in sites:
        if site.output not in known:
            raise ModelMismatchError(f"the SNN's IF node {site.name!r} outputs {site.output!r}, which {label} does "
                                     "not compute: give the ANN that the SNN was converted from")
    producers = {name: node for node in snn.graph.node for name in node.output}
    initializers = {t.name: t for t in snn.graph.initializer}
    for site in sites:
        _copy_producers(site.current, ann, producers, initializers, known, label)
    return ann


def _copy_producers(name, ann, producers, initializers, known, label):
    """Add to ``ann`` the SNN nodes (and weights) that compute ``name`` from tensors the ANN has."""
    if name in known:
        return
    if name in initializers:
        ann.graph.initializer.append(initializers[name])
    else:
        node = producers.get(name)
        if node is None or node.domain == contract.DOMAIN:
            raise ModelMismatchError(f"the SNN computes {name!r} from spikes or from a value {label} does not have: "
                                     "give the ANN that the SNN was converted from")
        for source in node.input:
            if source:
                _copy_producers(source, ann, producers, initializers, known, label)
        ann.graph.node.append(node)
    known.add(name)


def scaled_threshold(snn, name, factor):
    """A copy of the SNN ModelProto with IF node ``name``'s thresholds and initial potentials times ``factor`` (a
    threshold repaired by hand)."""
    model = onnx.ModelProto.FromString(snn.SerializeToString())
    node = next((n for n in model.graph.node if n.name == name and n.op_type == contract.IF_OP), None)
    if node is None:
        raise ValueError(f"the SNN has no IF node {name!r}")
    scale_if_node(node, factor)
    return model


def scale_if_node(node, factor):
    """Multiply an IF NodeProto's thresholds and initial potentials by ``factor``, in place."""
    for attr in node.attribute:
        if attr.name in (contract.ATTR_THRESHOLD, contract.ATTR_V_INIT):
            attr.floats[:] = [v * factor for v in attr.floats]
