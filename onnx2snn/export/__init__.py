"""Portable exports of an SNN file: standard ONNX (the T-step simulation, no custom op) and NIR."""

import os

import onnx
from snnrt import contract

from ..errors import ModelLoadError, Onnx2SnnError, UnsupportedModelError
from ..load.model import load_model
from ..save import check_writable, save_model

FORMATS = ("onnx", "nir")
MAX_EXPORT_STEPS = 2**20


def export_model(source, fmt, output, timesteps=16, per_step_outputs=False):
    """Write the SNN ``source`` (path, bytes or ModelProto) to ``output`` in ``fmt`` ('onnx' or 'nir').

    'onnx': one standard-ONNX graph that runs ``timesteps`` steps (the output averaged over them, or
    every step's anytime output with ``per_step_outputs``); 'nir': the NIR graph (T-independent).
    The file appears complete or not at all. Returns the output path.
    """
    if fmt not in FORMATS:
        raise Onnx2SnnError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not 1 <= int(timesteps) <= MAX_EXPORT_STEPS:
        raise Onnx2SnnError(f"-T {timesteps}: the exported graph takes at least one time step and at most "
                            f"{MAX_EXPORT_STEPS:,} (it holds constants of T values and folds T into the batch axis "
                            "of every spiking layer's output)")
    check_writable(output)
    snn = load_model(source)
    label = str(source) if isinstance(source, (str, os.PathLike)) else "the model"
    if not any(n.domain == contract.DOMAIN and n.op_type in (contract.IF_OP, contract.SIGNED_IF_OP)
               for n in snn.graph.node):
        raise UnsupportedModelError(f"{label} has no {contract.IF_OP} nodes: it is an ANN, not an SNN; "
                                    "convert it first with onnx2snn convert")
    if fmt == "onnx":
        from .standard_onnx import export_standard_onnx

        try:
            exported = export_standard_onnx(snn, int(timesteps), per_step_outputs)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ModelLoadError(f"{label}: the types or shapes it declares do not match what its graph computes "
                                 f"({first}); convert the model again") from exc
        save_model(exported, output)
    else:
        try:
            from .nir_graph import export_nir, write_nir
        except ModuleNotFoundError as exc:
            if exc.name != "nir":
                raise
            raise Onnx2SnnError("NIR export needs the nir package: pip install nir") from exc
        write_nir(export_nir(snn), output)
    return output
