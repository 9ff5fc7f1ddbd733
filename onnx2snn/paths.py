"""Output paths checked against a command's inputs before any work, so that a run never replaces what it reads."""

import os
import stat
from pathlib import Path

from .errors import OutputPathError
from .save import check_writable, file_kind


def _stat(path):
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _input_path(name, spec):
    """The file or folder that the input ``spec`` reads: a data argument loses its split suffix."""
    if name in ("--calib", "--data", "--input"):
        from .data.sources import split_spec

        return split_spec(spec)[0]
    return str(spec)


def check_outputs(outputs, inputs):
    """Raise OutputPathError when an output ({option: path}) is one of the inputs ({option: path or data
    argument}): the same file after symlinks and hard links, or a path inside an input folder; or when it cannot
    be written (save.check_writable). None: not given."""
    for out_name, out_path in outputs.items():
        if out_path is None:
            continue
        check_writable(out_path)
        out = _stat(out_path)
        out_resolved = Path(os.path.abspath(out_path)).resolve()
        for in_name, spec in inputs.items():
            in_path = None if spec is None else _input_path(in_name, spec)
            source = None if in_path is None else _stat(in_path)
            if source is None:
                continue
            if out is not None and os.path.samestat(out, source):
                raise OutputPathError(f"{out_name} {out_path} is the {in_name} file {in_path}: writing it would "
                                      "replace an input; give another output path")
            if stat.S_ISDIR(source.st_mode) and out_resolved.is_relative_to(Path(in_path).resolve()):
                raise OutputPathError(f"{out_name} {out_path} lies inside the {in_name} folder {in_path}, which is "
                                      "read as input; write it elsewhere")


def check_input_file(path, error, what):
    """Raise ``error`` (an Onnx2SnnError class) unless ``path`` is a regular file: reading a device or a FIFO
    could block or never end. ``what``: the form expected, for the message."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{path}: no such file; give {what}") from None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); give {what}") from exc
    if stat.S_ISDIR(mode):
        raise error(f"{path}: is a folder; give {what}")
    if not stat.S_ISREG(mode):
        raise error(f"{path}: is a {file_kind(mode)}, not a regular file; give {what}")
