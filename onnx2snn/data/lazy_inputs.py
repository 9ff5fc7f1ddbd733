"""Inputs that stay in their source (a memory-mapped .npy, an .npz member, image files, CIFAR batches) until a
batch of them is read, so that memory is bounded by the batch, not the dataset."""

import numpy as np

from ..errors import DataError


class Rows:
    """The positions 0..n-1 of a whole source, without an array of them: indexing gives the positions asked for
    (an int, or an int64 array for a slice, an integer array or a mask), so that a dataset of billions of rows
    costs no index memory until a batch of it is read."""

    def __init__(self, count):
        self.count = int(count)

    def __len__(self):
        return self.count

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return range(self.count)[key]
        if isinstance(key, slice):
            return np.arange(*key.indices(self.count), dtype=np.int64)
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (self.count,):
                raise IndexError(f"a mask of {key.shape} for {self.count} rows")
            return np.flatnonzero(key).astype(np.int64)
        key = np.where(key < 0, key + self.count, key).astype(np.int64)
        if key.size and (key.min() < 0 or key.max() >= self.count):
            raise IndexError(f"row index out of range for {self.count} rows")
        return key

    def __array__(self, dtype=None, copy=None):
        return np.arange(self.count, dtype=dtype or np.int64)

    def tolist(self):
        return list(range(self.count))


class LazyInputs:
    """Model inputs (N, ...) read on demand: ``x[a:b]``, ``x[indices]`` and ``x[i]`` read those samples and give
    float32 arrays, each sample checked finite; ``len(x)``, ``x.shape``, ``x.ndim``, ``x.dtype`` and
    ``x.reshape((N, ...))`` work as on an array, and ``np.asarray(x)`` reads them all.

    ``read(positions)``: the samples at those positions of the source (sorted, distinct int64), any real dtype, as
    an array (k, ...) of ``size`` values per sample; ``positions``: the source position of each input (a drawn
    subset keeps its own), or Rows(n) for all n rows of the source in order; ``checks``: callables(batch,
    positions) run on every batch read (a range check).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, read, positions, sample_shape, source, checks=()):
        self._read = read
        self.positions = positions if isinstance(positions, Rows) else np.asarray(positions, np.int64)
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.source = source
        self._checks = tuple(checks)
        self._last = None  # (positions, values) of the last batch read

    def __len__(self):
        return len(self.positions)

    @property
    def shape(self):
        return (len(self), *self.sample_shape)

    @property
    def ndim(self):
        return 1 + len(self.sample_shape)

    def _like(self, positions=None, sample_shape=None, checks=()):
        return LazyInputs(self._read, self.positions if positions is None else positions,
                          sample_shape or self.sample_shape, self.source, self._checks + tuple(checks))

    def reshape(self, shape):
        """The same inputs with each sample reshaped: ``shape`` is (N, ...) with N = len(self), as numpy's."""
        shape = tuple(shape)
        if shape[0] != len(self) or int(np.prod(shape[1:])) != int(np.prod(self.sample_shape)):
            raise ValueError(f"cannot reshape inputs of shape {self.shape} to {shape}")
        return self._like(sample_shape=shape[1:])

    def checked(self, check):
        """The same inputs with ``check(batch, positions)`` run on every batch read."""
        return self._like(checks=(check,))

    def subset(self, indices):
        """The inputs at ``indices`` (of this object; Rows: all of them), still unread."""
        if isinstance(indices, Rows) and len(indices) == len(self):
            return self
        return self._like(positions=self.positions[np.asarray(indices, np.int64)])

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            return self._take(self.positions[[key]])[0][rest]
        return self._take(self.positions[key])[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None):
        x = self[:]
        return x if dtype is None else x.astype(dtype)

    def _take(self, positions):
        distinct, inverse = np.unique(positions, return_inverse=True)
        if self._last is not None and np.array_equal(self._last[0], distinct):
            raw = self._last[1]  # the same batch again (diagnose reads each batch for the ANN, then for the SNN)
        else:
            raw = np.asarray(self._read(distinct))
            self._last = (distinct, raw)
        if not np.issubdtype(raw.dtype, np.number) or np.iscomplexobj(raw):
            raise DataError(f"{self.source}: inputs must be real numbers, got dtype {raw.dtype}")
        with np.errstate(over="ignore"):
            batch = raw.astype(np.float32).reshape(len(distinct), *self.sample_shape)
        bad = np.flatnonzero(~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1))
        if len(bad):
            raise DataError(f"{self.source}: sample {distinct[bad[0]]} holds NaN or inf in float32 ({len(bad)} such "
                            f"sample(s) among the {len(batch)} read with it); give finite inputs")
        for check in self._checks:
            check(batch, distinct)
        return batch[inverse.reshape(-1)]
