"""The CLI in-process, and the form every refused input must take: exit code 2 and one line naming the fault."""

from click.testing import CliRunner

from onnx2snn.cli.commands import main


def invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *map(str, args)])


def refused(result, *words):
    """Assert exit 2 with one line 'error: ...' holding every one of ``words``; returns that line."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(w in lines[0] for w in words), (words, lines[0])
    return lines[0]
