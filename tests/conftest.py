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
