"""Keep ``docs/cli.md`` true: its ``nedsym … --help`` and ``nedsym run --list`` blocks are
generated from the argparse definitions.

``python -m nedsym.cli_doc docs/cli.md`` rewrites every block that starts with
``$ nedsym [COMMAND] --help`` (or ``$ nedsym run --list``) inside a ```` ```console ````
fence with the live output; ``--check`` only reports the stale ones (exit 1). The test suite
runs the check, so the page cannot go stale.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

__all__ = ["help_text", "refresh"]

#: the width the page's help blocks are formatted for
WIDTH = 100
_BLOCK = re.compile(r"```console\n\$ nedsym( [a-z-]+)? (--help|--list)\n(.*?)```", re.S)


def help_text(command: str | None, flag: str = "--help") -> str:
    """What ``nedsym [command] --help`` (or ``run --list``) prints, at :data:`WIDTH` columns."""
    from nedsym.cli import main

    argv = ([command] if command else []) + [flag]
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            try:
                main(argv)
            except SystemExit:
                pass
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return buf.getvalue()


def refresh(text: str) -> tuple[str, list[str]]:
    """``(text with every help block regenerated, the commands whose block was stale)``."""
    stale = []

    def sub(m):
        command = m.group(1).strip() if m.group(1) else None
        live = help_text(command, m.group(2))
        if live != m.group(3):
            stale.append(f"nedsym {command + ' ' if command else ''}{m.group(2)}")
        return f"```console\n$ nedsym{m.group(1) or ''} {m.group(2)}\n{live}```"

    return _BLOCK.sub(sub, text), stale


def _main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"] or ["docs/cli.md"]
    status = 0
    for p in map(Path, paths):
        new, stale = refresh(p.read_text())
        if check:
            for s in stale:
                print(f"{p}: the block of `{s}` is stale")
            status |= bool(stale)
        elif stale:
            p.write_text(new)
            print(f"{p}: regenerated {', '.join(stale)}")
    return status


if __name__ == "__main__":
    sys.exit(_main())
