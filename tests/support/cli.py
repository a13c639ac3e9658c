"""Running ``python -m proxy``'s ``main`` inside the test process."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from proxy.__main__ import main


def run_main(argv: Sequence[str]) -> int:
    """``main(argv)``, with the process's logging put back as it was afterwards.

    ``main`` sets up the root logger's handler on ``sys.stderr``, which in a test is the stream
    pytest captures for that test and closes after it: left in place, every later log record of the
    run (a server thread's, another test's app's) fails to write, "--- Logging error ---"."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return main(argv)
    finally:
        root.handlers[:], root.level = handlers, level
