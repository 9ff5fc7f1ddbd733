"""Bring every model to one opset, so later passes and the runtime see one form of each op."""

import onnx
from onnx import version_converter

from ..errors import ModelLoadError

TARGET_OPSET = 17


def default_opset(model):
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def upgrade_opset(model, target=TARGET_OPSET):
    """Convert the default-domain opset up to ``target``; newer models are kept as they are."""
    current = default_opset(model)
    if current >= target:
        return model
    if model.ir_version < 3:
        raise ModelLoadError(f"the model's IR version {model.ir_version} is too old to upgrade; export it again")
    try:
        upgraded = version_converter.convert_version(model, target)
    except Exception as exc:
        raise ModelLoadError(
            f"cannot upgrade the model from opset {current} to {target}: {str(exc).strip().splitlines()[0]}; "
            f"export it with opset {target} or newer"
        ) from exc
    onnx.checker.check_model(upgraded)
    return upgraded
