"""Rewrite a normalized ANN into an SNN file: each site becomes one IFNeuron node of onnx2snn's domain, the nodes of
each compensation unit one ExpectationCompensation node (onnx2snn.sites.compensate), and each signed site a
SignedIFNeuron that the weight layers after it read (onnx2snn.sites.signed_sites).

MaxPool nodes fed (directly or not) by spikes become SpikeMaxPool (max pooling of cumulative counts,
exact at every step; see snnrt.contract). The IF layers that feed them get no ``v_spread``: the maximum
over neurons whose potentials are spread is biased upward at small T. A final Softmax/LogSoftmax/Sigmoid
is dropped: the spiking output is the output layer's pre-activation averaged over the steps, with the
same arg-max.
"""

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from snnrt import contract

from .calibrate.signed_thresholds import SIGNED_LEVELS, V_INIT_FRACTION
from .errors import UnsupportedModelError
from .normalize.graph_edits import bypass
from .normalize.upgrade_opset import default_opset
from .sites.compensate import insert_compensations


def if_node_name(site):
    """The name of the IFNeuron node that replaces ``site``."""
    return f"{site.name}_if"


def _downstream(graph, names):
    """Nodes reachable from the tensors ``names``."""
    seen, stack = set(), [t for t in graph.tensors().values() if t.name in names]
    reached = []
    while stack:
        tensor = stack.pop()
        for node in tensor.outputs:
            if id(node) not in seen:
                seen.add(id(node))
                reached.append(node)
                stack.extend(node.outputs)
    return reached


def _upstream_if_nodes(node):
    """The IFNeuron nodes whose spikes reach ``node`` without passing through another IFNeuron."""
    seen, stack, found = set(), list(node.inputs), []
    while stack:
        tensor = stack.pop()
        for producer in tensor.inputs:
            if id(producer) in seen:
                continue
            seen.add(id(producer))
            if producer.op == contract.IF_OP and producer.domain == contract.DOMAIN:
                found.append(producer)
            else:
                stack.extend(producer.inputs)
    return found


def _input_affine(graph, site, tensor):
    """The IF input: the site's input, or alpha * input + beta where the site needs it (see find_sites)."""
    if site.affine is None or np.allclose(site.affine, (1.0, 0.0), rtol=0, atol=1e-9):
        return tensor
    alpha, beta = site.affine
    scaled = graph.layer(op="Mul", name=f"{site.name}_in_scale", inputs=[tensor, np.array(alpha, np.float32)],
                         outputs=[f"{site.name}_in_scaled"])[0]
    return graph.layer(op="Add", name=f"{site.name}_in_shift", inputs=[scaled, np.array(beta, np.float32)],
                       outputs=[f"{site.name}_in_shifted"])[0]


def _spike_max_pool(node):
    """Turn a MaxPool (or GlobalMaxPool, as a MaxPool over the whole map) on spikes into SpikeMaxPool."""
    if node.op == "GlobalMaxPool":
        spatial = node.inputs[0].shape[2:] if node.inputs[0].shape is not None else None
        if not spatial or not all(isinstance(d, int) for d in spatial):
            raise UnsupportedModelError(
                f"node {node.name!r} (GlobalMaxPool) on spikes needs a static spatial size; export the model "
                "with a fixed input size"
            )
        node.attrs = {"kernel_shape": list(spatial), "strides": list(spatial)}
    node.op, node.domain = contract.MAXPOOL_OP, contract.DOMAIN


def neuron_attributes(threshold, v_init_fraction, reset, spread=0.0, start=None, spread_trained=False):
    """The attributes of the IF node of a site whose Threshold is ``threshold``. ``spread`` (v_spread) applies
    where the threshold is a calibration statistic (and to a trained bound too with ``spread_trained``, for a
    spread the user asked for): a trained bound (clip, QCFS) was fitted to neurons that all round alike.
    ``start``: initial potentials per channel (calibrated by tuning) that replace v_init_fraction * theta; the
    thresholds are then written per channel as well."""
    theta = threshold.values
    v_init = theta.astype(np.float64) * v_init_fraction if start is None else start
    theta = np.broadcast_to(theta, np.shape(v_init))
    skip = not spread or (threshold.trained and not spread_trained)
    return {
        contract.ATTR_THRESHOLD: [float(v) for v in theta],
        contract.ATTR_V_INIT: [float(v) for v in v_init],
        contract.ATTR_RESET: reset,
        contract.ATTR_CHANNEL_AXIS: 1,
        **({} if skip else {contract.ATTR_SPREAD: float(spread)}),
    }


def _insert_signed(graph, signed, thresholds, levels):
    """A SignedIFNeuron with ``levels`` spike sizes for each SignedSite (thresholds: site name -> Threshold), read by
    its weight layers in place of the real value."""
    by_name = {n.name: n for n in graph.nodes}
    tensors = graph.tensors()
    for site in signed:
        theta = thresholds[site.name].values
        spikes = graph.layer(op=contract.SIGNED_IF_OP, name=site.name, domain=contract.DOMAIN,
                             attrs={contract.ATTR_THRESHOLD: [float(v) for v in theta],
                                    contract.ATTR_V_INIT: [float(v) * V_INIT_FRACTION for v in theta],
                                    contract.ATTR_LEVELS: levels,
                                    contract.ATTR_CHANNEL_AXIS: thresholds[site.name].channel_axis},
                             inputs=[tensors[site.input]], outputs=[site.output])[0]
        for name in site.readers:
            by_name[name].inputs[0] = spikes


def rewrite(model, report, thresholds, v_init_fraction=0.5, reset=contract.RESET_SUBTRACT, spread=0.0,
            spread_trained=False, signed_levels=SIGNED_LEVELS):
    """Return the SNN ``onnx.ModelProto``, without metadata; thresholds maps site name -> Threshold, and
    ``spread`` and ``spread_trained`` apply as neuron_attributes says. The signed neurons start at theta / 2 and
    have ``signed_levels`` spike sizes (onnx2snn.calibrate.signed_thresholds)."""
    graph = gs.import_onnx(model)
    by_name = {n.name: n for n in graph.nodes}
    tensors = graph.tensors()
    for site in report.sites:
        for name in site.nodes:
            by_name[name].outputs.clear()
        current = _input_affine(graph, site, tensors[site.input])
        graph.layer(
            op=contract.IF_OP,
            name=if_node_name(site),
            domain=contract.DOMAIN,
            attrs=neuron_attributes(thresholds[site.name], v_init_fraction, reset, spread,
                                    spread_trained=spread_trained),
            inputs=[current],
            outputs=[tensors[site.output]],
        )
    _insert_signed(graph, report.signed, thresholds, signed_levels)
    for node in _downstream(graph, {s.output for s in report.sites}):
        if node.op in ("MaxPool", "GlobalMaxPool") and node.domain in (None, ""):
            _spike_max_pool(node)
            for feeding in _upstream_if_nodes(node):
                feeding.attrs.pop(contract.ATTR_SPREAD, None)
    for name in report.dropped_output:
        node = next(n for n in graph.nodes if n.name == name)
        bypass(graph, node, node.inputs[0])
    graph.cleanup().toposort()
    snn = gs.export_onnx(graph, do_type_check=False)
    insert_compensations(snn, model, report.compensated, default_opset(model))
    if not any(o.domain == contract.DOMAIN for o in snn.opset_import):
        snn.opset_import.append(onnx.helper.make_opsetid(contract.DOMAIN, contract.DOMAIN_VERSION))
    onnx.checker.check_model(snn)
    return snn


def write_neurons(snn, attributes):
    """Write ``attributes`` {IF node name: neuron_attributes} into the IF nodes of ``snn``, an SNN that rewrite
    made, in place and in the order the nodes hold them (after tuning changed their sites' values). An attribute
    that a node lacks is not added: rewrite leaves out the spread of IF layers that feed a SpikeMaxPool."""
    nodes = {node.name: node for node in snn.graph.node}
    for name, values in attributes.items():
        node = nodes[name]
        for attribute in list(node.attribute):
            if attribute.name in values:
                attribute.CopyFrom(onnx.helper.make_attribute(attribute.name, values[attribute.name]))
            else:
                node.attribute.remove(attribute)
