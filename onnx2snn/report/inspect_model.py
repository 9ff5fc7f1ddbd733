"""A plain-text description of an ANN or SNN file: I/O, opset, size, cost, and what converts."""

import json

import numpy as np
import torch

from snnrt import contract
from snnrt.errors import RuntimeInputError
from snnrt.graph import GraphModule
from snnrt.stats import WEIGHT_OPS, OpCounter, shape_macs
from snnrt.validate import compensation_body, if_attributes, signed_attributes

from ..load.model import FLOAT_TYPES, load_model
from ..normalize import normalize
from ..sites.find_sites import find_sites


def _shape(value_info):
    dims = value_info.type.tensor_type.shape.dim
    return "(" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims) + ")"


def _macs(model):
    """MACs per sample of the weight layers, or None when the input size is not fixed."""
    graph_input = model.graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    sizes = [d.dim_value for d in dims[1:]]
    if not all(sizes):
        return None
    module = GraphModule(model)
    counter = OpCounter(module)
    with counter as counts, torch.no_grad():
        counter.begin(0, 1)
        module.run(torch.zeros((1, *sizes)))
        counter.finish(1)
    return counts.ann_macs


def _shape_macs(model):
    """MACs per sample of the weight layers from the inferred shapes (for graphs the runtime cannot run), or
    None when a shape is not known."""
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]}
    for shape in shapes.values():  # one sample: a batch dimension without a fixed size counts as 1
        if shape and shape[0] is None:
            shape[0] = 1
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    total = 0
    for node in model.graph.node:
        if node.op_type not in WEIGHT_OPS:
            continue
        known = [shapes.get(name) for name in [*node.input[:2], node.output[0]]]
        if any(shape is None or None in shape or 0 in shape for shape in known):
            return None
        total += shape_macs(node.op_type, known[:2], known[2])
    return total


def _ann_macs(model):
    """The MACs line of an ANN: counted by the runtime, or from the shapes where the runtime cannot run it."""
    inputs = model.graph.input
    counted = bool(inputs) and inputs[0].type.tensor_type.elem_type in FLOAT_TYPES
    try:
        macs, how = (_macs(model), "") if counted else (_shape_macs(model), " (from shapes)")
    except RuntimeInputError:
        macs, how = _shape_macs(model), " (from shapes)"
    return "MACs: input size not fixed" if macs is None else f"MACs per sample{how}: {macs:,.0f}"


def describe(path):
    """Text for `onnx2snn inspect`."""
    model = load_model(path, float_input=False)
    spiking = any(o.domain == contract.DOMAIN for o in model.opset_import)
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    initializers = {t.name for t in model.graph.initializer}
    lines = [f"file: {path}", f"kind: {'SNN (onnx2snn)' if spiking else 'ANN'}",
             f"producer: {model.producer_name} {model.producer_version}".rstrip(), f"opsets: {opsets}"]
    lines += [f"input: {i.name} {_shape(i)}" for i in model.graph.input if i.name not in initializers]
    lines += [f"output: {o.name} {_shape(o)}" for o in model.graph.output]
    lines.append(f"parameters: {params:,}")
    if spiking:
        lines += _describe_snn(model)
    else:
        lines += _describe_ann(model, path)
    return "\n".join(lines)


def start_text(fractions):
    """Initial potentials as fractions of theta: one value (float32 rounding aside), or the range over channels
    (no spaces)."""
    low, high = float(np.min(fractions)), float(np.max(fractions))
    return f"{low:.3g}" if np.isclose(low, high, rtol=1e-5, atol=1e-7) else f"{low:.2f}..{high:.2f}"


def recipe_text(model):
    """'name (field=value, ...)' of the recipe recorded in an SNN's metadata, or None for a file without one."""
    meta = {p.key: p.value for p in model.metadata_props}
    if contract.META_RECIPE not in meta:
        return None
    raw = meta.get(contract.META_RECIPE_VALUES, "{}")
    try:
        values = ", ".join(f"{k}={v}" for k, v in json.loads(raw).items())
    except (ValueError, AttributeError):  # an edited file: show what it holds
        values = raw
    return f"{meta[contract.META_RECIPE]} ({values})"


def _theta_text(theta):
    """'theta 1.5', 'theta 1.5 on 16 channels' or 'theta per channel (16)'."""
    if np.ptp(theta) == 0:
        return f"theta {theta[0]:.4g}" + (f" on {theta.size} channels" if theta.size > 1 else "")
    return f"theta per channel ({theta.size})"


def _describe_snn(model):
    recipe = recipe_text(model)
    lines = [f"recipe: {recipe}"] if recipe else []
    macs = _macs(model)
    lines.append(f"MACs per sample (as an ANN): {macs:,.0f}" if macs is not None else "MACs: input size not fixed")
    lines.append("spiking layers:")
    for node in model.graph.node:
        if node.domain != contract.DOMAIN:
            continue
        if node.op_type == contract.IF_OP:
            attrs = if_attributes(node)
            theta = attrs.threshold.astype(np.float64)
            text = _theta_text(theta)
            text += f", v_init {start_text(contract.start_fractions(theta, attrs.v_init))} theta"
            if attrs.spread:
                text += f", v_spread {attrs.spread:.3g} theta"
            lines.append(f"  {node.name}: {node.op_type} {text}")
        elif node.op_type == contract.SIGNED_IF_OP:
            attrs = signed_attributes(node)
            lines.append(f"  {node.name}: {node.op_type} {_theta_text(attrs.threshold.astype(np.float64))}, "
                         f"{attrs.levels} spike sizes theta*2^-k, signed")
        elif node.op_type == contract.COMPENSATION_OP:
            body = compensation_body(node)
            lines.append(f"  {node.name}: {node.op_type} (not spiking) of {'+'.join(n.op_type for n in body.node)}")
        else:
            lines.append(f"  {node.name}: {node.op_type}")
    lines.append("metadata:")
    lines += [f"  {p.key}: {p.value}" for p in model.metadata_props if p.key.startswith(contract.META_PREFIX)]
    return lines


def _describe_ann(model, path):
    clean, _ = normalize(model, source=path)
    report = find_sites(clean)
    lines = [_ann_macs(clean),
             f"nodes after normalization: {len(clean.graph.node)}",
             f"activations that become IF neurons: {len(report.sites)}"]
    lines += [f"  {s.name}: {s.replaced}" + (f" (trained bound {np.max(s.bound):.4g})" if s.bound is not None else "")
              for s in report.sites]
    if report.compensated:
        lines.append(f"compensation units (not spiking): {len(report.compensated)}")
        lines += [f"  {u.name}: {u.computes}" for u in report.compensated]
    if report.signed:
        lines.append(f"weight layers that read computed values, behind signed IF neurons: {len(report.signed)}")
        lines += [f"  {s.name}: {s.input} -> {', '.join(s.readers)}" for s in report.signed]
    if report.dropped_output:
        lines.append(f"dropped from the spiking output: {', '.join(report.dropped_output)}")
    refusal = report.refusal()
    lines.append(f"blocking conversion: {refusal or 'none'}")
    return lines
