"""Load an ONNX model from a path, bytes or ModelProto, with checks that name the file and the fault."""

import copy
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper

from .errors import ModelLoadError

FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


def load_model(source, check=True):
    """Return a checked ``onnx.ModelProto`` from a file path, raw bytes or a ModelProto (copied).

    External data is read from files next to the model; a location that is missing or points
    outside the model's folder is an error. Raises ModelLoadError with the file named.
    """
    if isinstance(source, onnx.ModelProto):
        model, label = copy.deepcopy(source), "the given ModelProto"
    elif isinstance(source, (bytes, bytearray)):
        model, label = _parse(bytes(source), "the given bytes"), "the given bytes"
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such file; give the path of an .onnx model")
        model = _parse(path.read_bytes(), label)
        _load_external_data(model, path)
    if _has_external_data(model) and not isinstance(source, (str, Path)):
        raise ModelLoadError(f"{label}: the model keeps weights in external files; load it from its path instead")
    if check:
        check_model(model, label)
    return model


def _parse(data, label):
    if not data:
        raise ModelLoadError(f"{label}: the file is empty; export the model to ONNX again")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"{label}: not an ONNX model or the file is truncated ({exc}); export it again") from exc
    if not model.HasField("graph") or model.ir_version == 0 or not model.opset_import:
        raise ModelLoadError(
            f"{label}: not an ONNX model or the file is truncated (no graph, IR version or opset); export it again"
        )
    return model


def _tensors(model):
    """Initializers and Constant-node tensors of the main graph."""
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t


def _has_external_data(model):
    return any(external_data_helper.uses_external_data(t) for t in _tensors(model))


def _load_external_data(model, path):
    folder = path.parent.resolve()
    for tensor in _tensors(model):
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = external_data_helper.ExternalDataInfo(tensor)
        target = (folder / info.location).resolve()
        if not target.is_relative_to(folder):
            raise ModelLoadError(
                f"{path}: tensor {tensor.name!r} points to external data {info.location!r} outside the model's "
                f"folder {folder}; keep external data files next to the model"
            )
        if not target.is_file():
            raise ModelLoadError(
                f"{path}: tensor {tensor.name!r} needs the external data file {info.location!r}, which is missing "
                f"from {folder}; copy it next to the model"
            )
    try:
        external_data_helper.load_external_data_for_model(model, str(folder))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: cannot read its external data ({exc})") from exc


def check_model(model, label="the model"):
    """Run onnx.checker and require at least one floating-point graph input."""
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"{label}: the graph fails the ONNX checker: {first}") from exc
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not any(i.type.tensor_type.elem_type in FLOAT_TYPES for i in inputs):
        kinds = ", ".join(f"{i.name}: {onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type)}" for i in inputs)
        raise ModelLoadError(
            f"{label}: the model has no floating-point input ({kinds or 'no inputs'}); onnx2snn converts networks "
            "that take float tensors such as images or feature vectors"
        )
