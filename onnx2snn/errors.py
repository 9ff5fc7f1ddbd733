"""Exceptions that onnx2snn raises for bad input. Each message names the file, node or argument at fault
and says what to do; the CLI prints them as one line and exits with code 2."""


class Onnx2SnnError(Exception):
    """Base class of every user-facing error raised by onnx2snn."""


class ModelLoadError(Onnx2SnnError):
    """The ONNX file cannot be read, is not ONNX, is truncated, or fails the checker."""


class UnsupportedModelError(Onnx2SnnError):
    """The graph has nodes that cannot be converted or run (all of them are listed)."""


class CalibrationError(Onnx2SnnError):
    """Calibration data is unusable (NaN/inf, wrong shape, empty)."""


class DataError(Onnx2SnnError):
    """A data file or folder does not have the expected form."""


class OutputPathError(Onnx2SnnError):
    """An output path cannot be written."""


class ModelMismatchError(Onnx2SnnError):
    """Two models that should belong together do not: an SNN and an ANN it was not converted from."""


class ModelLoadWarning(UserWarning):
    """The file breaks a rule that ONNX Runtime does not enforce (an old IR version's); it is read anyway."""


def reason(exc):
    """An exception's message for the end of a one-line error, or its type where it has none (MemoryError)."""
    return str(exc).strip() or type(exc).__name__
