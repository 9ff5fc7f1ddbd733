"""``python -m onnx2snn`` (and ``torchrun ... -m onnx2snn``): the command line of onnx2snn.cli.commands."""

from .cli.commands import main

main(prog_name="onnx2snn")
