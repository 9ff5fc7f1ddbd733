"""What a model must keep to before any work: opsets that ONNX knows, at least one output, no dimension of size
0, ops of domains that ONNX Runtime runs, Reshape targets of a size a tensor can have, shapes that ONNX shape
inference finds consistent, values of known shape (ConstantOfShape, Expand, ...) within FOLD_LIMIT, and
spiking nodes whose attributes pass snnrt.validate."""

import numpy as np
import onnx
from onnx import external_data_helper, helper, numpy_helper
from snnrt import contract
from snnrt.validate import InvalidSnnError, check_spiking_nodes

from ..errors import ModelLoadError, UnsupportedModelError

# More elements than any tensor of a network that onnx2snn converts or runs (64 GiB of float32).
MAX_ELEMENTS = 2**34
FOLD_LIMIT = 1 << 30  # bytes: the most that a value computed from constants may take
# Types stored several values to a byte, whose raw size is not count * itemsize.
_PACKED_TYPES = {getattr(onnx.TensorProto, name) for name in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2")
                 if hasattr(onnx.TensorProto, name)}
WINDOW_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")
RUNNABLE_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft", contract.DOMAIN)
_LATEST = {"": onnx.defs.onnx_opset_version(), contract.DOMAIN: contract.DOMAIN_VERSION}


def check_limits(model, label):
    """Raise ModelLoadError, naming ``label`` and the fault, where the model breaks one of the limits above."""
    _check_opsets(model, label)
    if not model.graph.output:
        raise ModelLoadError(f"{label}: the graph has no outputs; export the model with its output(s)")
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if any(d.HasField("dim_value") and d.dim_value == 0 for d in dims):
            raise ModelLoadError(f"{label}: {value.name!r} has a dimension of size 0; export the model with "
                                 "the input size it takes (or a named dimension for the batch)")
    _check_domains(model, label)
    _check_tensors(model, label)
    _check_reshapes(model, label)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"{label}: the graph's shapes or types do not fit together: {first}; export it again") from exc
    _check_windows(inferred, label)
    try:
        check_spiking_nodes(model.graph)
        check_fold_sizes(inferred)
    except (InvalidSnnError, UnsupportedModelError) as exc:
        raise ModelLoadError(f"{label}: {exc}") from exc


def _check_windows(model, label):
    """No convolution or pooling window larger than its padded input (an output with a dimension of 0 or less)."""
    shapes = {v.name: v.type.tensor_type.shape for v in (*model.graph.value_info, *model.graph.output)}
    for node in model.graph.node:
        if node.op_type not in WINDOW_OPS or not node.output or node.output[0] not in shapes:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in shapes[node.output[0]].dim]
        if any(isinstance(d, int) and d <= 0 for d in dims):
            raise ModelLoadError(f"{label}: node {node.name or node.output[0]!r} ({node.op_type}) gives an output of "
                                 f"shape {dims}: its window is larger than its padded input; export the model for "
                                 "a larger input")


def _check_opsets(model, label):
    for opset in model.opset_import:
        domain = "" if opset.domain == "ai.onnx" else opset.domain
        latest = _LATEST.get(domain)
        if opset.version < 1 or (latest is not None and opset.version > latest):
            raise ModelLoadError(f"{label}: opset {opset.version} of {domain or 'ai.onnx'} is outside 1..{latest}, "
                                 "the versions that onnx2snn knows; export the model with a released opset")


def _check_domains(model, label):
    known = set(RUNNABLE_DOMAINS) | {f.domain for f in model.functions}
    custom = [n for n in model.graph.node if n.domain not in known]
    if custom:
        ops = ", ".join(f"{n.name or n.output[0]!r} ({n.domain}::{n.op_type})" for n in custom)
        raise ModelLoadError(f"{label}: node(s) {ops} of a custom domain, which neither ONNX Runtime nor onnx2snn "
                             "can run; export the model with standard ONNX ops")


def _check_tensors(model, label):
    """Every stored tensor holds as many values as its dims say (the checker does not look)."""
    for tensor in external_data_helper._get_all_tensors(model):
        count = int(np.prod(tensor.dims, dtype=object)) if tensor.dims else 1
        try:
            itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = None
        if itemsize is None:
            fault = f"data type {tensor.data_type}, which ONNX does not define"
        elif any(d < 0 for d in tensor.dims):
            fault = f"negative dims {list(tensor.dims)}"
        elif tensor.raw_data and tensor.data_type not in _PACKED_TYPES:
            fault = None if len(tensor.raw_data) == count * itemsize else (
                f"{len(tensor.raw_data)} bytes of data for dims {list(tensor.dims)} of "
                f"{onnx.TensorProto.DataType.Name(tensor.data_type)}")
        elif tensor.raw_data or tensor.data_location == onnx.TensorProto.EXTERNAL:
            continue
        else:
            try:
                numpy_helper.to_array(tensor)
                fault = None
            except (ValueError, TypeError) as exc:
                fault = str(exc).strip().splitlines()[0]
        if fault:
            raise ModelLoadError(f"{label}: tensor {tensor.name!r} does not hold what it declares ({fault}); "
                                 "export the model again")


def _constants(graph):
    values = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = node.attribute[0].t
    return values


def _check_reshapes(model, label):
    constants = _constants(model.graph)
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in constants:
            continue
        shape = numpy_helper.to_array(constants[node.input[1]]).astype(np.int64).reshape(-1)
        known = [int(d) for d in shape if d > 0]
        if (shape < -1).any() or (shape == -1).sum() > 1 or np.prod(known, dtype=object) > MAX_ELEMENTS:
            raise ModelLoadError(f"{label}: node {node.name or node.output[0]!r} (Reshape) asks for shape "
                                 f"{shape.tolist()}, which no tensor can take (at most {MAX_ELEMENTS:,} elements, "
                                 "one -1); export the model again")


def _declared_bytes(value):
    """Bytes of a value of fully known shape (None when a dimension or the type is not known)."""
    tensor = value.type.tensor_type
    dims = tensor.shape.dim
    if not tensor.HasField("shape") or not all(d.HasField("dim_value") for d in dims):
        return None
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).itemsize
    except (KeyError, TypeError, ValueError):
        return None
    return int(np.prod([d.dim_value for d in dims], dtype=object)) * itemsize


def _constant_producers(graph):
    """{value name: node} of the node outputs computed from constants alone (what constant folding computes)."""
    constant = {t.name for t in graph.initializer}
    producers = {}
    for node in graph.node:
        if all(name in constant for name in node.input if name):
            constant.update(node.output)
            producers.update((name, node) for name in node.output)
    return producers


def check_fold_sizes(model, limit=FOLD_LIMIT):
    """Raise UnsupportedModelError when a value computed from constants alone, of known shape, would take more
    than ``limit`` bytes (``model`` with shapes inferred)."""
    producers = _constant_producers(model.graph)
    for value in model.graph.value_info:
        size = _declared_bytes(value)
        if size is not None and size > limit and value.name in producers:
            node = producers[value.name]
            dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
            raise UnsupportedModelError(
                f"node {node.name or node.output[0]!r} ({node.op_type}) computes {value.name!r} of shape {dims}, "
                f"{size / 2**30:.3g} GiB: more than the {limit / 2**30:.3g} GiB that a value may take; "
                "export the model without it")
