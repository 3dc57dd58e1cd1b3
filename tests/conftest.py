"""Shared fixtures: sample workbooks are generated once per session into a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def template_path(tmp_path_factory) -> Path:
    from isap.template_writer import write_template

    p = tmp_path_factory.mktemp("template") / "template.xlsx"
    write_template(p)
    return p


def findings_of(report, rules: set[str] | None = None) -> list[tuple]:
    return [(f.rule_id, f.sheet, f.cell) for f in report.findings if rules is None or f.rule_id in rules]


@pytest.fixture
def run_check(tmp_path):
    """Write a proposal (dict) as a workbook and check it; returns the Report."""
    from isap.checker import check_file
    from sample_submissions.generate import write

    counter = iter(range(10**6))

    def run(proposal, layout=None, checkpoint=None, policy=None, select=()):
        path = write(proposal, tmp_path / f"w{next(counter)}.xlsx", layout)
        return check_file(path, policy, checkpoint, select)

    return run


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    from sample_submissions.generate import generate

    out = tmp_path_factory.mktemp("samples")
    generate(out)
    return out
