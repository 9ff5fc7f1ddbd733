"""The data that the Python API takes, batch by batch: arrays, LazyInputs, torch tensors, or any iterable of
batches (a torch DataLoader, a generator), each batch an array or tensor x or a pair (x, y).

An iterable is cut anew into batches of the caller's batch size, so that it gives the same batches, and so the
same results, as the array of all its samples would.
"""

import numpy as np

from ..errors import DataError
from .lazy_inputs import LazyInputs


def _is_tensor(value):
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def is_stream(data):
    """True for an iterable of batches (a DataLoader, a generator), False for inputs that can be indexed: an array,
    LazyInputs, a tensor, or a list or tuple of samples."""
    return not isinstance(data, (np.ndarray, LazyInputs, list, tuple)) and not _is_tensor(data) and hasattr(
        data, "__iter__")


def as_inputs(data):
    """Inputs that can be indexed, as they are (an array, LazyInputs) or as a float32 array (a tensor, a list)."""
    if isinstance(data, (np.ndarray, LazyInputs)):
        return data
    if _is_tensor(data):
        return data.detach().cpu().numpy()
    return np.asarray(data, np.float32)


def _array(value, what):
    array = value.detach().cpu().numpy() if _is_tensor(value) else np.asarray(value)
    if what == "labels":
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise DataError(f"the batches' labels must be 1-D integer class indices, got shape {array.shape} dtype "
                            f"{array.dtype}")
        return array.astype(np.int64)
    if array.ndim < 1 or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DataError(f"a batch must be an array or tensor of real numbers (N, ...), got {type(value).__name__} "
                        f"of dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def _split(item):
    """(x, y or None) of one item of an iterable: a pair (x, y, ...), x alone, or (x,) (a DataLoader over a
    TensorDataset of inputs only)."""
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return _array(item[0], "inputs"), _array(item[1], "labels")
    if isinstance(item, (tuple, list)) and len(item) == 1:
        item = item[0]
    return _array(item, "inputs"), None


def _stream_batches(data, batch_size):
    """(start, x, y) of an iterable of batches, cut anew into batches of ``batch_size``."""
    xs, ys, held, start, labelled = [], [], 0, 0, None
    for item in data:
        x, y = _split(item)
        labelled = y is not None if labelled is None else labelled
        if (y is not None) != labelled or (y is not None and len(y) != len(x)):
            raise DataError("every batch must have as many labels as inputs, or none has labels")
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        if len(bad):
            raise DataError(f"sample {start + held + int(bad[0])} of the batches holds NaN or inf; give finite inputs")
        xs.append(x)
        ys.append(y)
        held += len(x)
        while held >= batch_size:
            x_all = np.concatenate(xs)
            y_all = np.concatenate(ys) if labelled else None
            yield start, x_all[:batch_size], None if y_all is None else y_all[:batch_size]
            xs, ys = [x_all[batch_size:]], [None if y_all is None else y_all[batch_size:]]
            held -= batch_size
            start += batch_size
    if held:
        yield start, np.concatenate(xs), np.concatenate(ys) if labelled else None


def iter_batches(data, batch_size, labels=None, keep=None):
    """(start, x float32, y or None) for each batch of ``data`` (see the module): y from ``labels`` (indexable data)
    or from the batches' own pairs (an iterable). ``keep(index)``: whether to give batch ``index`` (start //
    batch_size); the others are not read from indexable data (an iterable is read through)."""
    if is_stream(data):
        if labels is not None:
            raise ValueError("labels come with the batches of an iterable: give (x, y) batches, not labels apart")
        for start, x, y in _stream_batches(data, batch_size):
            if keep is None or keep(start // batch_size):
                yield start, x, y
        return
    data = as_inputs(data)
    for start in range(0, len(data), batch_size):
        if keep is None or keep(start // batch_size):
            x = np.asarray(data[start : start + batch_size], np.float32)
            yield start, x, None if labels is None else np.asarray(labels[start : start + batch_size])


class EvenSample:
    """Up to 2 x ``limit`` samples kept evenly spaced over a stream of batches of unknown length: every s-th sample,
    s doubling (every other one kept dropped) whenever more than 2 x limit are kept; ``seen`` counts them all."""

    def __init__(self, limit):
        self.limit, self.step, self.seen, self._kept = max(1, int(limit)), 1, 0, []

    def watch(self, batches):
        """The inputs x of ``batches`` (start, x, y), passed on while their samples are sampled."""
        for _, x, _ in batches:
            self.add(x)
            yield x

    def add(self, x):
        positions = np.arange(self.seen, self.seen + len(x))
        self._kept += [sample.copy() for position, sample in zip(positions, x) if position % self.step == 0]
        self.seen += len(x)
        while len(self._kept) > 2 * self.limit:
            self._kept = self._kept[::2]
            self.step *= 2

    def samples(self):
        """The samples kept, as an array (0, ...) when none were."""
        return np.stack(self._kept) if self._kept else np.zeros((0,), np.float32)
