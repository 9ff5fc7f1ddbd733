"""What the fuzz tests demand of every CLI run: exit 0, or exit 2 with one line 'error: ...' (followed, where the
error lists nodes, by one '  - ' line per node); never an internal error (exit 1), a traceback or a hang."""

import signal
from contextlib import contextmanager

from tests.refusals import invoke

HANG_SECONDS = 120


class Hang(BaseException):
    """Raised by the alarm; a BaseException, so that neither the CLI nor CliRunner catches it."""


@contextmanager
def _deadline(seconds):
    def expired(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(*args):
    """Run the CLI; returns the click Result after asserting that it ended as the fuzz tests demand."""
    with _deadline(HANG_SECONDS):
        result = invoke(*args)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 2), (args, result.output)
    if result.exit_code == 2:
        lines = result.output.rstrip().splitlines()
        listed = lines[1:-1] if lines[-1].startswith("Export the model without") else lines[1:]
        assert lines[0].startswith("error: ") and all(line.startswith("  - ") for line in listed), (args, lines)
    return result
