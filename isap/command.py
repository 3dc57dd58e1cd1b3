"""The `isap` command as installed: `isap check` starts its checking child before the command line exists.

People wait for a cold `isap check` (docs/performance.md).  Its checking child
imports polars, pandera and the rules; the command imports typer, the review
layer's words and every command's options, which the child never needs.  So
the command forks the child first, with only what both need imported, and the
two import the rest at the same time, each on a core of its own.  Any other
command goes straight to the command line (`isap.cli`).
"""

from __future__ import annotations

import sys

# What a checking child runs, imported by it while the command imports and parses its options.
CHECKING = ("isap.rules.engine:prepare",)


def starts_a_check(args: list[str]) -> bool:
    """Whether these arguments check workbooks (not only ask how)."""
    return args[:1] == ["check"] and not {"--help", "-h"} & set(args[1:])


def fork_checking_child() -> None:
    """Fork the child that will check this command's workbooks, now.

    What both processes need is imported first, once: the engine (the child runs it, the command
    sends it its files) and pydantic (the command's option parser builds on it, and so does pandera
    in the child).  Start-up makes many long-lived objects and no cyclic garbage: the collector
    waits until it is over (see `isap.cli.check`), in this process and in the child."""
    import gc

    gc.disable()
    import pydantic  # noqa: F401
    from pydantic import TypeAdapter  # noqa: F401  (what typer's options are parsed with)

    import isap.rules.engine  # noqa: F401
    from isap.workbook import isolation

    isolation.use_fork(preload=CHECKING)


def main() -> None:
    if starts_a_check(sys.argv[1:]):
        fork_checking_child()
    from isap.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
