"""Hostile files refused by the command line as a user runs it: one `isap check` process per file, its address
space capped and its peak resident memory measured from outside (the e2e tier, CONTRIBUTING.md); the same files'
findings through the sandbox are in `test_safety.py`."""

from __future__ import annotations

import json

import pytest

from tests.test_safety import HOSTILE_NAMES, hostile, run_cli  # noqa: F401 - hostile is a fixture


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_is_refused_by_the_command_line_in_bounded_memory(hostile, name):  # noqa: F811
    path, rule = hostile[name]
    result = run_cli(path)
    assert result["rc"] == 2, result
    assert "Traceback" not in result["err"]
    report = json.loads(result["out"])
    assert {f["rule_id"] for f in report["findings"]} == {rule}, report["findings"]
    assert report["template_version"] is None and report["checkpoint"] is None
    assert not any("time limit" in f["message"] or "within the limits" in f["message"] for f in report["findings"])
    assert result["peak_mb"] < 500, f"{name} peaked at {result['peak_mb']:.0f} MB"
