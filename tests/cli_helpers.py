"""Run the `haf` console entry point in this process, as a user's shell would."""

from __future__ import annotations

import sys

from haf.cli import main


def run_haf(args: list[str], capsys=None) -> tuple[int, str, str]:
    """``haf ARGS``: (exit code, stdout, stderr). An exception other than SystemExit escapes, so
    a test fails exactly where a user would have seen a traceback. Without ``capsys`` (a module
    fixture has none) the output is not captured and comes back empty."""
    old = sys.argv
    sys.argv = ["haf", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    if capsys is None:
        return code, "", ""
    out, err = capsys.readouterr()
    return code, out, err
