"""Atomic writes: a file appears complete or not at all, with the mode the user's umask gives, and only over a
regular file or at a new path (never over a device, FIFO or socket)."""

import os
import stat
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
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path, folder
    except (OSError, ValueError) as exc:
        raise OutputPathError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not stat.S_ISREG(mode):
        raise OutputPathError(f"cannot write {path}: it is a {file_kind(mode)}, not a regular file; give a file name")
    return path, folder


def file_kind(mode):
    """What a path that is not a regular file or folder is, in words."""
    kinds = ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"),
             (stat.S_ISSOCK, "socket"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        os.chmod(tmp, 0o666 & ~_umask())
        check_writable(path)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(model, path):
    """Save an onnx.ModelProto to ``path`` atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(model.SerializeToString()))
