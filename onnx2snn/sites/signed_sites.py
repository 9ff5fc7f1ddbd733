"""Where signed IF neurons (snnrt.contract's SignedIFNeuron) go: in front of every weight layer that would
otherwise read a real value, so that every weight layer receives spikes and its operations stay accumulates.

Each value of the ANN gets one of three kinds, in graph order:

- spikes: the output of an activation site (an IF neuron), and what moves, pools, adds or scales it by constants
  (Reshape, AveragePool, Concat, Mul by a constant, Add of two spike trains or of spikes and a static value, ...);
- static: the input, and what is computed from it by linear ops and weight layers alone; a weight layer reading it
  runs once per sample under direct encoding, as the first layer of any converted network does;
- real: everything else: a compensation unit's output (SiLU, GELU, LayerNorm, attention), a weight layer's output
  on spikes (a current), and what mixes these.

A weight layer (Conv, ConvTranspose, Gemm, MatMul with a constant weight) that reads a real value gets a signed
IF neuron on that value, shared by every weight layer that reads it; the other readers keep the real value.
"""

from dataclasses import dataclass, field

import onnx_graphsurgeon as gs

from snnrt.stats import WEIGHT_OPS

from .blockers import SHAPE_ONLY_OPS, varying_values

SPIKES, STATIC, REAL = "spikes", "static", "real"
#: ops whose output on spikes is spikes again, each output element a sum of spikes times constants (one accumulate
#: per spike for the next weight layer) plus a part that does not vary in time (a constant or static operand, a
#: folded BatchNormalization's shift), which the next weight layer computes as it computes a bias
SPIKE_PRESERVING = ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Split", "Concat", "Gather",
                    "GatherND", "Pad", "Expand", "Tile", "Identity", "AveragePool", "GlobalAveragePool", "ReduceMean",
                    "ReduceSum", "MaxPool", "GlobalMaxPool", "DepthToSpace", "SpaceToDepth", "BatchNormalization",
                    "Neg", "Add", "Sub", "Sum", "Mul", "Div")
_SCALING = ("Mul", "Div")  # spike-preserving by a constant factor only (for Div, a constant divisor)


@dataclass
class SignedSite:
    """One signed IF neuron: it turns the real value ``input`` into the spikes ``output`` that the weight layers
    ``readers`` (node names) read instead."""

    name: str
    input: str
    output: str
    readers: list = field(default_factory=list)


def signed_node_name(value):
    """The name of the SignedIFNeuron node on the value named ``value``."""
    return f"{value}_signed"


def weight_input(node):
    """The tensor that a weight layer with a constant weight reads (its data input), or None for any other node."""
    if node.op not in WEIGHT_OPS or len(node.inputs) < 2:
        return None
    data, weight = node.inputs[0], node.inputs[1]
    return data if isinstance(weight, gs.Constant) and not isinstance(data, gs.Constant) else None


def _kind(node, read, kinds):
    """The kind of the outputs of a node that is neither a site nor in a compensation unit; ``read``: its inputs
    that follow the graph input."""
    found = {kinds.get(t.name, STATIC) for t in read}
    if found == {STATIC}:
        return STATIC
    if REAL in found or weight_input(node) is not None or node.op not in SPIKE_PRESERVING:
        return REAL
    if node.op in _SCALING:
        return SPIKES if len(read) == 1 and (node.op == "Mul" or read[0] is node.inputs[0]) else REAL
    return SPIKES


def signed_sites(graph, sites, units):
    """The SignedSites of a graph (onnx-graphsurgeon, normalized ANN) whose activation sites are ``sites`` and
    whose compensation units are ``units`` (onnx2snn.sites.compensate.Compensation), in graph order."""
    varying = varying_values(graph)
    site_of = {name: site for site in sites for name in site.nodes}
    unit_of = {name: unit for unit in units for name in unit.nodes}
    kinds, found = {}, {}
    for node in graph.nodes:
        read = [t for t in node.inputs if t.name in varying]
        if not read or node.op in SHAPE_ONLY_OPS:
            continue
        if node.name in site_of:
            kind = SPIKES if node.outputs[0].name == site_of[node.name].output else REAL
        elif node.name in unit_of:
            kind = REAL
        else:
            data = weight_input(node)
            if data is not None and kinds.get(data.name, STATIC) == REAL:
                site = found.setdefault(data.name, SignedSite(signed_node_name(data.name), data.name,
                                                              f"{data.name}_spikes"))
                site.readers.append(node.name)
            kind = _kind(node, read, kinds)
        kinds.update((t.name, kind) for t in node.outputs)
    return list(found.values())
