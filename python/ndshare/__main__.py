"""``python -m ndshare`` and the ``ndshare`` console script: the command-line
tool, run by the same Rust code as the standalone ``ndshare`` binary."""

from __future__ import annotations

import sys
from typing import List, Optional

from ._ndshare import cli_main


def main(argv: Optional[List[str]] = None) -> int:
    """Runs ``ndshare`` with ``argv`` (default: ``sys.argv[1:]``); returns
    the exit code."""
    args = sys.argv[1:] if argv is None else argv
    # The command writes straight to file descriptors 1 and 2.
    sys.stdout.flush()
    sys.stderr.flush()
    return int(cli_main(["ndshare", *args]))


if __name__ == "__main__":
    sys.exit(main())
