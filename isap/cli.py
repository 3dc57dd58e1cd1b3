"""The `isap` command line.

Interactive commands stay fast: nothing here imports Prefect, the database
layer or pandas at start-up; each command imports what it needs.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ISAP assurance engine: check ICP proposal workbooks and follow them through review.")


class CheckFormat(str, Enum):
    text = "text"
    json = "json"


class RulesFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _die(message: str, code: int = 2) -> None:
    typer.echo(f"isap: {message}", err=True)
    raise typer.Exit(code)


def _policy(path: Optional[Path]):
    from isap.policy import Policy, PolicyError

    try:
        return Policy.load(path)
    except PolicyError as exc:
        _die(str(exc))


def _split(values: Optional[List[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p for p in v.split(",") if p.strip())
    return out


@app.command()
def check(
    files: List[Path] = typer.Argument(..., help="Workbooks (.xlsx) to check.", show_default=False),
    format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f", help="Output format."),
    checkpoint: Optional[int] = typer.Option(None, "--checkpoint", help="Check for this checkpoint (1–3) "
                                             "instead of the Cover's."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy TOML file (default: ./isap-policy.toml)."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Only rules whose ID starts with these."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Skip rules whose ID starts with these."),
) -> None:
    """Check workbooks before submission. Exit 0: no errors; 1: errors; 2: not assessable."""
    if checkpoint is not None and checkpoint not in (1, 2, 3):
        _die("--checkpoint must be 1, 2 or 3")
    from isap.checker import check_file
    from isap.reports import to_json, to_text

    pol = _policy(policy)
    reports = [check_file(f, pol, checkpoint, _split(select), _split(ignore)) for f in files]
    out = to_json(reports) if format is CheckFormat.json else to_text(reports)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    raise typer.Exit(max(r.exit_code for r in reports))


@app.command()
def template(out: Path = typer.Argument(..., help="Where to write the blank template (.xlsx).")) -> None:
    """Write the blank ISAP-WB 1.0 template a commissioner fills in."""
    from isap.template_writer import write_template

    try:
        write_template(out)
    except OSError as exc:
        _die(f"cannot write {out}: {exc.strerror or exc}")
    typer.echo(f"Wrote the ISAP-WB 1.0 template to {out}")


@app.command()
def rules(format: RulesFormat = typer.Option(RulesFormat.text, "--format", "-f")) -> None:
    """List the assurance rule catalogue."""
    from isap.catalogue import render

    typer.echo(render(format.value), nl=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
