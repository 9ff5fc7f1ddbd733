"""Load an ONNX model from a path, bytes or ModelProto, with checks that name the file and the fault."""

import copy
import warnings
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper

from ..errors import ModelLoadError, ModelLoadWarning
from ..paths import check_input_file
from .limits import check_limits

FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


def load_model(source, check=True, float_input=True):
    """Return a checked ``onnx.ModelProto`` from a file path, raw bytes or a ModelProto (copied).

    ``float_input``: also require a floating-point graph input (False where the caller names, node by node,
    what an integer input blocks).

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
        check_input_file(path, ModelLoadError, "the path of an .onnx model")
        model = _parse(_read(path), label)
        _load_external_data(model, path)
    if _has_external_data(model) and not isinstance(source, (str, Path)):
        raise ModelLoadError(f"{label}: the model keeps weights in external files; load it from its path instead")
    model = _tolerate_old_ir(model, label)
    if check:
        check_model(model, label, float_input)
    return model


def _tolerate_old_ir(model, label):
    """An IR 3 model with initializers that are not graph inputs breaks a rule of IR 3 only (IR 4 dropped it),
    which ONNX Runtime does not enforce: read it as IR 4, with a warning."""
    inputs = {i.name for i in model.graph.input}
    outside = [t.name for t in model.graph.initializer if t.name not in inputs]
    if model.ir_version != 3 or not outside:
        return model
    warnings.warn(f"{label}: IR version 3 wants every initializer listed as a graph input, and {len(outside)} "
                  f"(such as {outside[0]!r}) are not; ONNX Runtime accepts this, so the model is read as IR 4",
                  ModelLoadWarning, stacklevel=3)
    from ..normalize.drop_input_initializers import allow_initializers_outside_inputs  # the passes: 25 ms to import

    return allow_initializers_outside_inputs(model)


def _read(path):
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read it ({exc.strerror or exc})") from exc


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
    """Initializers and tensor attributes of every graph, subgraphs included."""
    return external_data_helper._get_all_tensors(model)


def _has_external_data(model):
    return any(external_data_helper.uses_external_data(t) for t in _tensors(model))


def _external_location(tensor, path):
    """The location of a tensor's external data, its fields checked (numbers, no NUL byte)."""
    try:
        info = external_data_helper.ExternalDataInfo(tensor)
    except ValueError as exc:
        raise ModelLoadError(f"{path}: tensor {tensor.name!r} has unreadable external data fields ({exc}); "
                             "export the model again") from exc
    if not info.location or "\0" in info.location:
        raise ModelLoadError(f"{path}: tensor {tensor.name!r} has external data location {info.location!r}, which "
                             "is not a file name; export the model again")
    return info.location


def _load_external_data(model, path):
    folder = path.parent.resolve()
    for tensor in _tensors(model):
        if not external_data_helper.uses_external_data(tensor):
            continue
        location = _external_location(tensor, path)
        target = (folder / location).resolve()
        if not target.is_relative_to(folder):
            raise ModelLoadError(
                f"{path}: tensor {tensor.name!r} points to external data {location!r} outside the model's "
                f"folder {folder}; keep external data files next to the model"
            )
        if not target.is_file():
            raise ModelLoadError(
                f"{path}: tensor {tensor.name!r} needs the external data file {location!r}, which is missing "
                f"from {folder}; copy it next to the model"
            )
    try:
        external_data_helper.load_external_data_for_model(model, str(folder))
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise ModelLoadError(f"{path}: cannot read its external data ({exc})") from exc


def _text_fields_decode(message):
    """Whether every string field of a protobuf message, recursively, is UTF-8 text (protobuf hands the others
    back as bytes, which fail wherever they are read later)."""
    for field, value in message.ListFields():
        items = value if field.is_repeated else [value]
        if field.type == field.TYPE_MESSAGE and not all(_text_fields_decode(item) for item in items):
            return False
        if field.type == field.TYPE_STRING and any(isinstance(item, bytes) for item in items):
            return False
    return True


def check_model(model, label="the model", float_input=True):
    """Run onnx.checker and (``float_input``) require at least one floating-point graph input."""
    if not _text_fields_decode(model):
        raise ModelLoadError(f"{label}: the graph holds a name or string that is not UTF-8 text; export it again")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"{label}: the graph fails the ONNX checker: {first}") from exc
    except ValueError as exc:  # the checker's own parser refuses bytes that Python's protobuf accepted
        raise ModelLoadError(f"{label}: not a valid ONNX model ({str(exc).strip()}); export it again") from exc
    check_limits(model, label)
    if float_input:
        _check_float_input(model, label)


def _check_float_input(model, label):
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not any(i.type.tensor_type.elem_type in FLOAT_TYPES for i in inputs):
        kinds = ", ".join(f"{i.name}: {onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type)}" for i in inputs)
        raise ModelLoadError(
            f"{label}: the model has no floating-point input ({kinds or 'no inputs'}); onnx2snn converts networks "
            "that take float tensors such as images or feature vectors"
        )
