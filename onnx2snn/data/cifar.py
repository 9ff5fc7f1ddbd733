"""The CIFAR-10 and CIFAR-100 "python version" batch folders, as distributed by their authors.

CIFAR-10 (cifar-10-batches-py): data_batch_1..5 (train) and test_batch, each a pickled dict with
b"data" (uint8, N x 3072, RGB planes of 32x32) and b"labels" (N ints in 0..9).
CIFAR-100 (cifar-100-python): train and test, with b"data" and b"fine_labels" (N ints in 0..99).

This format exists only as pickles. The files come from the user's own download of the standard
dataset; they are unpickled with an unpickler that builds nothing but dicts, lists, numbers, bytes
and NumPy arrays, and whatever it builds must have the structure above.
"""

import pickle
from pathlib import Path

import numpy as np

from ..errors import DataError, reason

CIFAR10_SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR100_SPLITS = {"train": ["train"], "test": ["test"]}
SPLITS = ("train", "test", "all")
_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array rebuilder, whatever module it lives in
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never does")
        return _ALLOWED[(module, name)]


def is_cifar_dir(path):
    """True when ``path`` is a folder holding CIFAR-10 or CIFAR-100 python batches."""
    path = Path(path)
    return path.is_dir() and any((path / n).is_file() for n in ("data_batch_1", "test_batch", "train", "test"))


def _read_batch(path, label_key, classes):
    form = f"a CIFAR python batch: a pickled dict with b'data' (uint8, N x 3072) and {label_key!r} (N ints)"
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError,
            OverflowError, RecursionError) as exc:
        raise DataError(f"{path}: cannot read it as {form} ({reason(exc)})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{path}: expected {form}, found {found}")
    data, labels = batch[b"data"], np.asarray(batch[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f"{path}: b'data' must be uint8 of shape (N, 3072), got {getattr(data, 'dtype', None)} {shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: {label_key!r} must hold {len(data)} integer labels (one per image), "
                        f"got shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(f"{path}: labels must be in 0..{classes - 1}, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_cifar_batches(folder, names, label_key=b"labels", classes=10):
    """Images uint8 (N, 3, 32, 32) and labels int64 (N,) from the named batch files of ``folder``."""
    images, labels = [], []
    for name in names:
        path = Path(folder) / name
        if not path.is_file():
            raise DataError(f"{path} not found: expected a cifar-10-batches-py or cifar-100-python folder "
                            f"holding {', '.join(names)}")
        x, y = _read_batch(path, label_key, classes)
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def cifar_files(folder, split="test"):
    """(batch file names, label key, classes) of a CIFAR-10 or CIFAR-100 folder's split: train, test or all."""
    if split not in SPLITS:
        raise DataError(f"{folder}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    folder = Path(folder)
    cifar100 = (folder / "train").is_file() or (folder / "test").is_file()
    table, key, classes = (CIFAR100_SPLITS, b"fine_labels", 100) if cifar100 else (CIFAR10_SPLITS, b"labels", 10)
    return (table["train"] + table["test"] if split == "all" else table[split]), key, classes


class CifarReader:
    """A CIFAR split as model input, for LazyInputs: the labels are read up front (one batch file at a time) and
    ``reader(positions)`` gives the images at those positions, preprocessed; it keeps the last batch file it read,
    so memory holds one batch file (10,000 images for CIFAR-10, 50,000 for CIFAR-100's train) and the batch."""

    def __init__(self, folder, split, preprocess):
        self.folder, self.preprocess = Path(folder), preprocess
        self.names, self.key, self.classes = cifar_files(folder, split)
        labels = [read_cifar_batches(folder, [name], self.key, self.classes)[1] for name in self.names]
        self.labels = np.concatenate(labels)
        self.starts = np.cumsum([0] + [len(y) for y in labels])
        channels = preprocess.channels or 3
        preprocess.check_values(channels, folder)
        self.sample_shape = preprocess.sample_shape(32, 32, channels)
        self._kept = (None, None)

    def _images(self, index):
        if self._kept[0] != index:
            self._kept = (index, read_cifar_batches(self.folder, [self.names[index]], self.key, self.classes)[0])
        return self._kept[1]

    def __call__(self, positions):
        files = np.searchsorted(self.starts, positions, side="right") - 1
        pixels = np.concatenate([self._images(f)[positions[files == f] - self.starts[f]] for f in np.unique(files)])
        return self.preprocess.apply(self.preprocess.fit_pixels(pixels.transpose(0, 2, 3, 1)), self.folder)
