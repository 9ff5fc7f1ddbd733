"""Atomic writes: a file appears complete or not at all."""

import os
import tempfile
from pathlib import Path

from .errors import OutputPathError


def check_writable(path):
    """Raise OutputPathError now, before long work, if ``path`` cannot be written later."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {path}: folder {folder} does not exist; create it first")
    if path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a folder; give a file name")
    return path, folder


def atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    path, folder = check_writable(path)
    try:
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror}; choose a writable folder") from exc
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(model, path):
    """Save an onnx.ModelProto to ``path`` atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(model.SerializeToString()))
