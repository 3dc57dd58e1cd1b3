"""Every sample workbook reports exactly the findings it was built to show.

The clean samples are named bases of `generate.py`; each rule's failing sample is the first failing
case of its case file that needs no option (see `generate.publishable`), so its expected findings
come from that case and are not written twice.
"""

from __future__ import annotations

import json

import pytest

from isap.rules.engine import check_file
from isap.rules.registry import all_rules
from sample_submissions.cases import all_cases
from sample_submissions.generate import CLEAN, HERE, publishable, samples
from tests.conftest import findings_of

SAMPLES = samples()
SEVERITY = {r.id: r.severity.value for r in all_rules()}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_sample_reports_exactly_its_findings(samples_dir, sample):
    report = check_file(samples_dir / f"{sample.name}.xlsx")
    assert findings_of(report) == sample.expected
    errors = [rule for rule, _, _ in sample.expected if SEVERITY[rule] == "error"]
    assert report.exit_code == (1 if errors else 0)


REGENERATE = "run: .venv/bin/python -m sample_submissions.generate"


def test_committed_samples_are_current(samples_dir):
    """The files in sample_submissions/ are, byte for byte, what the generator makes now: a change to a
    proposal, a case or the writer shows here until the samples are regenerated."""
    committed = json.loads((HERE / "expected.json").read_text())
    generated = json.loads((samples_dir / "expected.json").read_text())
    assert committed == generated, REGENERATE
    stale = [s.name for s in SAMPLES
             if not (HERE / f"{s.name}.xlsx").is_file()
             or (HERE / f"{s.name}.xlsx").read_bytes() != (samples_dir / f"{s.name}.xlsx").read_bytes()]
    assert stale == [], f"stale samples {stale}; {REGENERATE}"
    published = {p.stem for p in HERE.glob("*.xlsx")}
    assert published == {s.name for s in SAMPLES}, f"samples no generator makes; {REGENERATE} and remove them"


def test_generating_twice_writes_the_same_bytes(tmp_path):
    """Regenerating rewrites no sample that did not change: no document date or zip time of the moment."""
    from sample_submissions.generate import generate

    first, second = tmp_path / "first", tmp_path / "second"
    generate(first)
    generate(second)
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


def test_every_rule_with_a_plain_failing_case_has_a_sample():
    """A rule has a sample unless none of its failing cases can be checked with no options; which rules
    those are is read from the case files (today the file refusals WB001–WB003, whose cases need a
    package edit or a policy, and WB010, whose links and objects are package edits), not listed by hand."""
    with_sample = {s.name.split("_")[0].upper() for s in SAMPLES if s not in CLEAN}
    plain = {c.rule for c in all_cases() if publishable(c)}
    assert with_sample == plain
    assert {r.id for r in all_rules()} - plain == {"WB001", "WB002", "WB003", "WB010"}


def test_clean_samples_cover_each_checkpoint_model_and_provider_kind(samples_dir):
    reports = [check_file(samples_dir / f"{s.name}.xlsx") for s in CLEAN]
    assert {r.checkpoint for r in reports} == {1, 2, 3}
    assert all(r.findings == [] and r.exit_code == 0 for r in reports)
    from isap.policy import Policy
    from isap.workbook.parse import parse
    from isap.workbook.safety import inspect

    models, statutory = set(), set()
    for s in CLEAN:
        wb = parse(inspect(samples_dir / f"{s.name}.xlsx", Policy()))
        models.add(wb.cover["integration_model"])
        statutory.add(wb.provider_statutory)
    assert models == {"Partially integrated", "Fully integrated"}
    assert statutory == {True, False}
