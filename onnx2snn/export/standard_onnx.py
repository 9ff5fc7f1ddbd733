"""Export an SNN file to standard ONNX: the whole T-step simulation, no custom op, dynamic batch N.

Direct encoding feeds the same input at every step, so the static part (nodes that no spiking layer
feeds) runs once on (N, ...). Everything after the first spiking layer runs once on time folded into
the batch, (T*N, ...) with t outermost; each spiking layer runs over time (see over_time). Outputs, as
snnrt's SimulationResult reports them: the output layer averaged over the T steps (N, ...), under the
SNN's output name; optionally ``per_step/<output>``, the anytime means (T, N, ...), and
``spike_count/<node>``, the int64 number of nonzero outputs of each spiking node (all steps, all samples).
"""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper, shape_inference

from snnrt import contract
from snnrt.batch_axis import SHAPE_OPS, batch_axis_problem, declared_shapes
from snnrt.validate import SPIKING_OPS

from ..errors import UnsupportedModelError
from ..normalize.upgrade_opset import TARGET_OPSET, upgrade_opset
from . import over_time

PER_STEP_PREFIX = "per_step/"
SPIKE_COUNT_PREFIX = "spike_count/"
DEFAULT_TIME_LOOP = "scan"

# what a value holds: a constant; a static value with the batch axis N; a static value computed from the
# batch size (a Shape chain); a value with time folded into the batch axis, (T*N, ...)
CONST, BATCH, SIZE, MIXED, FOLDED = "constant", "batch", "from the input's batch size", "across the batch", "folded"


def _reads(node):
    """The names a node reads: its inputs and the outer-scope values that its subgraphs use."""
    names = [n for n in node.input if n]
    for attr in node.attribute:
        for graph in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs:
            defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
            defined |= {o for n in graph.node for o in n.output}
            names += [name for n in graph.node for name in _reads(n) if name not in defined]
    return names


def _classify(graph, ranks, constants):
    """(kind of each value, kind of each node): FOLDED for a spiking node and everything it feeds; MIXED
    for a value computed before the first spiking node across the samples of the batch (not tileable)."""
    kinds = {t.name: CONST for t in graph.initializer}
    kinds.update({v.name: BATCH for v in graph.input if v.name not in kinds})
    node_kinds = []
    for node in graph.node:
        read = {kinds[name] for name in _reads(node)}
        if node.domain == contract.DOMAIN or FOLDED in read:
            kind = FOLDED
        elif SIZE in read or (BATCH in read and node.op_type in SHAPE_OPS):
            kind = SIZE
        elif MIXED in read or (BATCH in read and _mixes_batch(node, kinds, ranks, constants)):
            kind = MIXED
        else:
            kind = BATCH if BATCH in read else CONST
        kinds.update((name, kind) for name in node.output)
        node_kinds.append(kind)
    return kinds, node_kinds


def _mixes_batch(node, kinds, ranks, constants):
    folded = [i for i, name in enumerate(node.input) if name and kinds[name] == BATCH]
    return batch_axis_problem(node, folded, ranks.get(node.input[folded[0]]), constants) is not None


def _prepared(snn_model):
    """A copy at opset >= 17 with shapes inferred, after checking that it is an SNN that can be exported."""
    model = onnx.ModelProto()
    model.CopyFrom(snn_model)
    ops = {(n.domain, n.op_type) for n in model.graph.node if n.domain not in ("", "ai.onnx")}
    unknown = [n for n in model.graph.node if n.domain not in ("", "ai.onnx") and (n.domain, n.op_type) not in
               {(contract.DOMAIN, op) for op in SPIKING_OPS}]
    if unknown:
        raise UnsupportedModelError("no standard-ONNX export for " + ", ".join(
            f"node {n.name!r} ({n.domain}::{n.op_type})" for n in unknown))
    if not {(contract.DOMAIN, contract.IF_OP), (contract.DOMAIN, contract.SIGNED_IF_OP)} & ops:
        raise UnsupportedModelError(
            f"the model has no {contract.DOMAIN}::{contract.IF_OP} node: it is an ANN, not an SNN; convert it "
            "first (onnx2snn convert) and export the SNN file"
        )
    if len(model.graph.output) != 1:
        raise UnsupportedModelError(f"the SNN has {len(model.graph.output)} outputs; the export needs exactly one")
    model = upgrade_opset(model, TARGET_OPSET)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    for node in (n for n in model.graph.node if n.op_type == contract.COMPENSATION_OP):
        body_opset = next((a.i for a in node.attribute if a.name == contract.ATTR_BODY_OPSET), contract.BODY_OPSET)
        if body_opset != opset:
            raise UnsupportedModelError(
                f"node {node.name!r} ({node.op_type}) computes its body at opset {body_opset} and the model is at "
                f"opset {opset}: the standard-ONNX export runs the body inside the model; convert the model again")
    return shape_inference.infer_shapes(model, strict_mode=False)


def _constants(graph):
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _value_info(name, like, leading):
    """A value typed like the graph value ``like``, its first dim replaced by the dims ``leading``."""
    tensor = like.type.tensor_type
    if not tensor.HasField("shape") or not tensor.shape.dim:
        return helper.make_tensor_value_info(name, tensor.elem_type, None)
    rest = [d.dim_value or d.dim_param or None for d in tensor.shape.dim[1:]]
    return helper.make_tensor_value_info(name, tensor.elem_type, leading + rest)


def _check_foldable(node, folded, rank, constants):
    problem = batch_axis_problem(node, folded, rank, constants)
    if problem:
        raise UnsupportedModelError(
            f"node {node.name!r} ({node.op_type}) runs on spiking values but {problem}; the standard-ONNX export "
            "folds time into the batch axis; rewrite the model so this op leaves axis 0 alone (for example "
            "Flatten instead of a Shape/Reshape chain), or run it with the onnx2snn runtime"
        )


def _build(graph, b, time_loop):
    """Add the graph's nodes to b with time folded in after the first spiking layer."""
    shapes, constants, tiled = declared_shapes(graph), _constants(graph), {}
    ranks = {name: len(shape) for name, shape in shapes.items()}
    kinds, node_kinds = _classify(graph, ranks, constants)

    def as_folded(node, name):
        if kinds[name] in (SIZE, MIXED):
            raise UnsupportedModelError(
                f"node {node.name!r} ({node.op_type}) reads {name!r}, computed {kinds[name]}, after time is folded "
                "into the batch axis; re-export the model with fixed shapes or Flatten, or run it with the "
                "onnx2snn runtime"
            )
        if kinds[name] == BATCH and name not in tiled:
            tiled[name] = over_time.tile(b, name, f"{name}/tiled")
        return tiled.get(name, name)

    for node, kind in zip(graph.node, node_kinds):
        if node.domain == contract.DOMAIN:
            x = node.input[0]
            if node.op_type in (contract.IF_OP, contract.SIGNED_IF_OP):
                static = kinds[x] == BATCH
                over_time.if_over_time(b, node, x if static else as_folded(node, x), static, shapes.get(x),
                                       time_loop)
            elif node.op_type == contract.COMPENSATION_OP:  # a constant input is the same at every step
                xs = [over_time.tile(b, n, f"{n}/tiled") if kinds[n] == CONST else as_folded(node, n)
                      for n in node.input]
                over_time.expectation_compensation(b, node, xs)
            else:
                over_time.spike_max_pool(b, node, as_folded(node, x))
        elif kind == FOLDED:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.input[:] = [as_folded(node, n) if n in kinds and kinds[n] != CONST else n for n in node.input]
            folded = [i for i, name in enumerate(node.input) if name and kinds[name] in (FOLDED, BATCH)]
            _check_foldable(node, folded, ranks.get(node.input[folded[0]]) if folded else None, constants)
            b.nodes.append(copy)
        else:
            b.nodes.append(node)
    return kinds


def export_standard_onnx(snn_model, timesteps, per_step_outputs=False, spike_counts=False,
                         time_loop=DEFAULT_TIME_LOOP):
    """An onnx.ModelProto, standard ONNX only, that simulates the SNN for ``timesteps`` steps on (N, ...).

    ``time_loop``: how the IF layers run over time, 'unrolled' (T written-out steps) or 'scan' (one Scan).
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer of at least 1, got {timesteps!r}")
    if time_loop not in over_time.TIME_LOOPS:
        raise ValueError(f"time_loop must be one of {over_time.TIME_LOOPS}, got {time_loop!r}")
    model = _prepared(snn_model)
    graph, steps = model.graph, int(timesteps)
    taken = {name for n in graph.node for name in [*n.input, *n.output, n.name]}
    b = over_time.GraphBuilder(taken | {v.name for v in [*graph.input, *graph.initializer]}, steps)
    kinds = _build(graph, b, time_loop)

    output = graph.output[0]
    if kinds[output.name] != FOLDED:
        raise UnsupportedModelError(f"the output {output.name!r} does not depend on any spiking layer: there is "
                                    "nothing to simulate; export the model as it is")
    per_step = b.fresh(f"{output.name}/steps")  # the output layer at every step; its name goes to the mean
    renamed = {output.name: per_step}
    for node in b.nodes:
        node.input[:] = [renamed.get(n, n) for n in node.input]
        node.output[:] = [renamed.get(n, n) for n in node.output]
    name = b.fresh(PER_STEP_PREFIX + output.name) if per_step_outputs else None
    anytime = over_time.anytime_means(b, per_step, out=name)
    b.op("Gather", [anytime, b.const(steps - 1)], "mean", out=output.name, axis=0)
    outputs = [_value_info(output.name, output, ["N"])]
    if per_step_outputs:
        outputs.append(_value_info(name, output, [steps, "N"]))
    spiking = [n for n in graph.node if n.domain == contract.DOMAIN and n.op_type != contract.COMPENSATION_OP]
    for node in spiking if spike_counts else []:
        spikes = renamed.get(node.output[0], node.output[0])
        count = over_time.spike_count(b, spikes, b.fresh(SPIKE_COUNT_PREFIX + node.name))
        outputs.append(helper.make_tensor_value_info(count, onnx.TensorProto.INT64, []))

    inputs = [_value_info(v.name, v, ["N"]) if kinds[v.name] == BATCH else v for v in graph.input]
    exported = helper.make_graph(b.nodes, graph.name, inputs, outputs, [*graph.initializer, *b.initializers])
    opsets = [o for o in model.opset_import if o.domain != contract.DOMAIN]
    result = helper.make_model(exported, opset_imports=opsets, producer_name="onnx2snn",
                               doc_string=f"{snn_model.doc_string}\nT={steps}-step simulation, standard ONNX".strip())
    result.ir_version = max(snn_model.ir_version, helper.find_min_ir_version_for(opsets))
    result.metadata_props.extend(model.metadata_props)
    result.metadata_props.append(onnx.StringStringEntryProto(key=f"{contract.META_PREFIX}timesteps", value=str(steps)))
    onnx.checker.check_model(result, full_check=True)
    return result


def ort_providers(device="auto"):
    """['CUDAExecutionProvider', 'CPUExecutionProvider'] where onnxruntime offers CUDA and device is not 'cpu'."""
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if str(device).startswith("cuda") and not cuda:
        raise ValueError(f"device {device!r} asked for, but onnxruntime has no CUDAExecutionProvider; install "
                         "onnxruntime-gpu or use device 'cpu'")
    return (["CUDAExecutionProvider"] if cuda and device != "cpu" else []) + ["CPUExecutionProvider"]


def ort_session(model, device="auto", spin=True):
    """An onnxruntime InferenceSession of ``model`` (ModelProto or path) on the providers of ort_providers.

    ``spin=False`` stops its worker threads from busy-waiting after each run (onnxruntime's default, for
    latency): otherwise they hold the CPU cores for a while and slow down whatever runs next in the process.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, options, providers=ort_providers(device))
