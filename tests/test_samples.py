"""Every sample workbook reports exactly the findings it was built to show."""

from __future__ import annotations

import json

import pytest

from isap.checker import check_file
from isap.registry import all_rules
from sample_submissions.generate import ALL, HERE
from tests.conftest import findings_of


@pytest.mark.parametrize("sample", ALL, ids=lambda s: s.name)
def test_sample_reports_exactly_its_findings(samples_dir, sample):
    report = check_file(samples_dir / f"{sample.name}.xlsx")
    registered = {r.id for r in all_rules()}
    expected = sorted(e for e in sample.expected if e[0] in registered)
    assert sorted(findings_of(report), key=str) == sorted(expected, key=str)
    if not sample.expected:
        assert report.exit_code == 0


def test_committed_samples_are_current(samples_dir):
    """The files in sample_submissions/ are what the generator makes now."""
    committed = json.loads((HERE / "expected.json").read_text())
    generated = json.loads((samples_dir / "expected.json").read_text())
    assert committed == generated
    for sample in ALL:
        assert (HERE / f"{sample.name}.xlsx").is_file(), sample.name


def test_clean_samples_cover_each_checkpoint_model_and_provider_kind(samples_dir):
    reports = [check_file(samples_dir / f"{s.name}.xlsx") for s in ALL if not s.expected]
    assert {r.checkpoint for r in reports} == {1, 2, 3}
    from isap.parse import parse
    from isap.policy import Policy
    from isap.safety import inspect

    models, statutory = set(), set()
    for s in ALL:
        if s.expected:
            continue
        wb = parse(inspect(samples_dir / f"{s.name}.xlsx", Policy()))
        models.add(wb.cover["integration_model"])
        statutory.add(wb.provider_statutory)
    assert models == {"Partially integrated", "Fully integrated"}
    assert statutory == {True, False}
