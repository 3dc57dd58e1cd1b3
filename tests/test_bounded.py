"""Hostile sizes: patterns in linear time, quoted text cut short, findings capped per rule and sheet.

Nothing here asserts a wall-clock threshold: pattern timings are compared
with a linear-time reference scan of the same input, measured in the same
test, in processor time (`tests/timing.py`), so a loaded machine does not
decide the result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from isap.workbook import values
from isap.workbook.template import FORMAT_PATTERNS, Format
from tests.timing import FLOOR_SECONDS, cpu_best

# ------------------------------------------------------------------ linear-time patterns

# Every pattern applied to workbook text (cell values after trimming).
WORKBOOK_TEXT_PATTERNS = {
    **{f"format:{fmt.name}": p for fmt, p in FORMAT_PATTERNS.items()},
    "integer": values._INT_TEXT,
    "money": values._MONEY_TEXT,
    "date": values._DATE_TEXT,
}

_ALPHABET = ["a", "A", "0", "9", ".", "@", " ", "\t", "-", "+", "£", ",", "S", "x", "ISAP-", "SVC-", "1,000",
             "a@", "@.", "£ ", "+ "]
_FAMILIES = (
    [lambda n, c=c: (c * (n // len(c) + 1))[:n] for c in _ALPHABET]
    + [lambda n, c=c, end=end: (c * (n // len(c) + 1))[:n] + end for c in _ALPHABET for end in ("!", "@", " x")]
    + [lambda n, c=c, d=d: d + (c * (n // len(c) + 1))[:n] + d + "!" for c in _ALPHABET
       for d in ("@", ".", " ", "£", "0", ",")]
    + [
        lambda n: "a@" + "." * n,                      # the reported case
        lambda n: "a@" + "." * n + "@",
        lambda n: "a@" + "." * n + " ",
        lambda n: "a@" + "b." * (n // 2) + "@",
        lambda n: "+" + " " * n + "x",                 # sign, spaces, no £, no digits
        lambda n: "-" + " " * (n // 2) + "£" + " " * (n // 2) + "x",
        lambda n: "1" + ",000" * (n // 4) + "x",
        lambda n: "1" * n + ".",
        lambda n: "1" * (n // 2) + "." + "1" * (n // 2) + "x",
    ]
)
_FLOOR = FLOOR_SECONDS
_best = cpu_best


def test_a_pattern_timing_counts_only_this_process_working():
    """Waiting (as a process does while other jobs hold the machine's cores) costs no time in the measure."""
    assert _best(lambda: time.sleep(0.05)) < 0.01


@pytest.mark.parametrize("name", sorted(WORKBOOK_TEXT_PATTERNS))
def test_patterns_on_workbook_text_run_in_linear_time(name):
    """Each pattern on adversarial inputs of 1,000, 10,000 and 100,000 characters: the time on an input
    ten times longer is measured against ten times the time on the shorter one (the linear-size
    reference).  A linear pattern grows about 10x per step, a quadratic one about 100x (the bound is 60); the check at
    10,000 characters stops a quadratic pattern long before it would run for minutes at 100,000."""
    pattern = WORKBOOK_TEXT_PATTERNS[name]
    for family in _FAMILIES:
        before = None
        for n in (1_000, 10_000, 100_000):
            s = family(n)
            took = _best(lambda: pattern.match(s))
            if before is not None:
                growth = took / max(before, _FLOOR)
                # (under 60: a step of a linear pattern measured 40 with another test run on the same cores)
                assert growth < 60, (f"{name} ({pattern.pattern!r}) is {growth:.0f}x slower on "
                                     f"{s[:12]!r}…{s[-6:]!r} at {len(s):,} characters than at a tenth of "
                                     "the length: not linear")
            before = took


def _email_spec(s: str) -> bool:
    """docs/workbook.md §4: exactly one @, a . somewhere after it, no white space."""
    return s.count("@") == 1 and "." in s.split("@", 1)[1] and not any(c.isspace() for c in s)


@pytest.mark.parametrize("text", [
    "a@b.c", "icp.programme@nhs.net", "a@.", "@.", "a@b.", "a.b@c", "a.b@c.d.e", "a@@b.c", "a@b@c.d",
    "a b@c.d", "a@b .c", "a@b\u00a0.c", "a@b.c\n", "ab.c", "a@bc", "", "@", ".@", "a@b\t.c", "é@ü.ß",
    "a@" + "." * 1000, "a@" + "." * 1000 + "@",
])
def test_email_pattern_is_exactly_the_spec(text):
    assert bool(FORMAT_PATTERNS[Format.EMAIL].match(text)) is _email_spec(text)


def test_email_pattern_agrees_with_the_spec_on_random_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet=st.sampled_from(list("ab.@ \t\u00a0\n1-")), max_size=20))
    def check(text):
        assert bool(FORMAT_PATTERNS[Format.EMAIL].match(text)) is _email_spec(text)

    check()


@pytest.mark.parametrize("text,amount", [
    ("£1,250,000", 1_250_000.0), ("1250000.00", 1_250_000.0), ("- £ 500", -500.0), ("+  12", 12.0),
    ("£  1,000.5", 1000.5), ("-£1", -1.0),
])
def test_money_text_still_reads(text, amount):
    assert values.to_money(text) == amount


@pytest.mark.parametrize("text", ["12m", "GBP 100", "(500)", "1 000", "1,00", "£-5", "+ x", "££1", "1,0000"])
def test_money_text_still_refused(text):
    assert isinstance(values.to_money(text), values.Bad)


# ------------------------------------------------------------------ quoting cell text

def test_quote_and_describe_cut_text_at_100_characters():
    assert values.quote("x" * 100) == repr("x" * 100)
    assert values.quote("x" * 101) == repr("x" * 100 + "…")
    assert values.describe("y" * 10_000_000) == repr("y" * 100 + "…")
    assert values.describe(" short ") == repr(" short ")
    assert values.describe(1.0) == "1" and values.describe(True) == "TRUE"
    assert values.clip("z" * 5000) == "z" * 100 + "…"
    assert values.clip("short") == "short"


LONG = 32_767  # characters: the most a cell holds in Excel (openpyxl cuts longer text to it)


def test_no_finding_echoes_a_long_cell_whole(run_check):
    """Every place a message embeds workbook text: choices, codes, identifiers, names, unknown
    fields, columns and sheets, the template version."""
    from sample_submissions.proposals import Layout, clean

    p = clean(2)
    p["Cover"]["template_version"] = "v" * LONG                  # WB007
    p["Cover"]["provider_type"] = "t" * LONG                     # SCH003
    p["Cover"]["contact_email"] = "a@@" + "." * LONG              # SCH005
    p["Services"][0]["category"] = "c" * LONG                    # SCH003
    p["Services"][1]["annual_value_gbp"] = "x£" + "9" * LONG     # SCH002
    p["Services"][2]["service_id"] = "SVC-" + "1" * LONG         # a valid id, quoted by SCP and REL rules
    p["Services"][2]["subcontractor_id"] = "P-" + "7" * LONG     # REL008: not in Partners
    p["Partners"][0]["partner_name"] = "n" * LONG
    p["Partners"][0]["supports_proposal"] = "No"                 # REL002 names the partner
    p["Partners"][1]["partner_id"] = "P-" + "2" * LONG
    p["Partners"][1]["partner_name"] = None
    p["Partners"][1]["registered_list_size"] = "s" * LONG        # SCH002
    layout = Layout(kv_extra_rows={"Cover": [("f" * LONG, "x")]},            # WB006 unknown field
                    extra_columns={"Services": {"h" * LONG: ["x"]}},          # WB006 unknown column
                    extra_sheets={"S" * 300: [["x"]]})                        # WB006 unknown sheet
    report = run_check(p, layout)
    rules = {f.rule_id for f in report.findings}
    assert {"WB006", "WB007", "SCH002", "SCH003", "SCH005", "REL008"} <= rules, sorted(rules)
    for f in report.findings:
        assert len(f.message) < 400, (f.rule_id, f.message[:200])
        assert f.column is None or len(f.column) <= 101, (f.rule_id, f.column[:50])
    long_quoted = [f for f in report.findings if "…" in f.message]
    assert len(long_quoted) >= 8, [(f.rule_id, f.message[:120]) for f in report.findings]


# ------------------------------------------------------------------ bounded findings

def _f(rule="SCH002", sheet="Services", row=2, column="annual_value_gbp", severity="error"):
    from isap.workbook.findings import Domain, Finding, Severity

    cell = None if row is None else f"F{row}"
    return Finding(rule, Severity(severity), Domain.SCHEMA, sheet, row, column, cell, f"bad {row}", "ISAP-WB 1.0 §2.2")


def test_cap_lists_the_first_findings_of_a_rule_on_a_sheet_then_says_how_many_more():
    import random

    from isap.workbook.findings import cap_findings, sort_findings

    many = [_f(row=r) for r in range(2, 1_202)]          # 1,200 of one rule on one sheet
    other_rule = [_f("SCH003", row=r, column="category") for r in range(2, 12)]
    other_sheet = [_f(sheet="Finance", row=r, column="net_assets_gbp") for r in range(2, 602)]
    mixed = many + other_rule + other_sheet
    random.Random(7).shuffle(mixed)
    listed, unlisted = cap_findings(mixed, 500)
    assert listed == sort_findings(listed)
    services = [f for f in listed if f.rule_id == "SCH002" and f.sheet == "Services"]
    notes = [f for f in services if f.row is None]
    assert len(services) == 501 and len(notes) == 1
    note = notes[0]
    assert (note.severity.value, note.column, note.cell) == ("error", None, None)
    assert "700" in note.message and "500" in note.message
    # the listed ones are the first 500 in report order
    assert sorted(f.row for f in services if f.row is not None) == list(range(2, 502))
    assert len([f for f in listed if f.rule_id == "SCH003"]) == 10
    finance = [f for f in listed if f.sheet == "Finance"]
    assert len(finance) == 501 and sum(f.row is None for f in finance) == 1 and "100" in finance[0].message
    # the summary counts every finding: listed ones (the notes among them) plus the rest
    assert len(listed) + unlisted["error"] == len(mixed)
    assert unlisted == {"error": 1_200 - 501 + 600 - 501, "warning": 0, "info": 0}


def test_cap_is_exact_at_the_limit_and_keeps_severities_apart():
    from isap.workbook.findings import cap_findings

    exactly = [_f(row=r) for r in range(2, 502)]
    listed, unlisted = cap_findings(exactly, 500)
    assert len(listed) == 500 and not any(f.row is None for f in listed) and sum(unlisted.values()) == 0
    warnings = [_f("WB006", sheet="Partners", row=r, column=f"x{r}", severity="warning") for r in range(2, 12)]
    listed, unlisted = cap_findings(warnings, 3)
    assert len(listed) == 4 and unlisted == {"error": 0, "warning": 6, "info": 0}
    assert [f.severity.value for f in listed] == ["warning"] * 4


def test_report_summary_counts_unlisted_findings_and_round_trips():
    from isap.rules.engine import CheckReport
    from isap.workbook.findings import cap_findings

    r = CheckReport("w.xlsx", "0" * 64, "1.0", 2, {"max_findings_per_rule": 5})
    r.findings, r.unlisted = cap_findings([_f(row=n) for n in range(2, 102)]
                                          + [_f("WB009", row=3, severity="warning")], 5)
    assert r.summary == {"error": 100, "warning": 1, "info": 0}
    assert len(r.findings) == 7
    d = r.to_dict()
    assert d["summary"] == {"error": 100, "warning": 1, "info": 0} and len(d["findings"]) == 7
    back = CheckReport.from_dict(d)
    assert back.summary == r.summary and back.findings == r.findings
    assert r.exit_code == back.exit_code == 1


def _many_bad_rows(tmp_path, rows: int):
    from benchmarks.bounded import many_findings_workbook

    return many_findings_workbook(rows, tmp_path / f"many_{rows}.xlsx")


def test_check_lists_at_most_the_policy_limit_per_rule_and_sheet(tmp_path):
    import json

    from isap.outputs.formats import to_json
    from isap.policy import Policy
    from isap.rules.engine import check_file

    path = _many_bad_rows(tmp_path, 120)
    report = check_file(path, Policy(max_findings_per_rule=25))
    per_group: dict = {}
    for f in report.findings:
        per_group.setdefault((f.rule_id, f.sheet), []).append(f)
    services = {rule: fs for (rule, sheet), fs in per_group.items() if sheet == "Services"}
    # ten faults per row: SCH002 ×3, SCH003 ×3, SCH005 ×3 and SCH001 (service_name), SCH006 (repeated id)
    assert {"SCH001", "SCH002", "SCH003", "SCH005", "SCH006"} <= set(services)
    for rule, fs in services.items():
        assert len(fs) == 26, (rule, len(fs))
        (note,) = [f for f in fs if f.row is None]
        assert note.column is None and note.cell is None and note.severity is fs[-1].severity
    assert report.summary["error"] == 120 * 10 + 119 + sum(
        1 for f in report.findings if f.sheet != "Services" and f.severity.value == "error")
    data = json.loads(to_json([report]))
    assert data["summary"] == report.summary and len(data["findings"]) == len(report.findings)
    assert data["policy"]["max_findings_per_rule"] == 25
    assert report.exit_code == 1


def test_upload_stores_the_listed_findings_and_the_true_counts(service, tmp_path):
    from isap.policy import Policy
    from isap.rules.engine import check_file

    path = _many_bad_rows(tmp_path, 120)
    service.policy = Policy(max_findings_per_rule=25)
    report = check_file(path, service.policy)
    result = service.upload("alice", "many.xlsx", path.read_bytes())
    assert result.errors == report.summary["error"] > 1_300
    shown = service.show("alice", result.reference)
    assert shown["versions"][-1]["errors"] == report.summary["error"]
    assert len(shown["findings"]) == len(report.findings) < 400
    stored = service.version_findings("alice", result.reference, result.version)
    assert [(f["rule_id"], f["row"], f["cell"], f["message"]) for f in stored] == \
        [(f.rule_id, f.row, f.cell, f.message) for f in report.findings]
    assert result.report["summary"] == report.summary


def test_upload_keeps_long_sheet_and_column_names_within_the_store(service, tmp_path):
    """A finding's sheet or column can be workbook text of any length; the store keeps it cut short."""
    from sample_submissions.proposals import Layout, clean, write

    layout = Layout(extra_columns={"Services": {"h" * 500: ["x"]}}, extra_sheets={"S" * 300: [["x"]]})
    data = write(clean(1, reference="ISAP-2026-014"), tmp_path / "long.xlsx", layout).read_bytes()
    result = service.upload("alice", "long.xlsx", data)
    stored = service.version_findings("alice", result.reference, result.version)
    wb006 = [f for f in stored if f["rule_id"] == "WB006"]
    assert len(wb006) == 2
    assert all(len(f["sheet"] or "") <= 100 and len(f["column"] or "") <= 100 for f in wb006)


# ------------------------------------------------------------------ bounded work while parsing

_SERVICE_VALUES = {
    "service_id": ["SVC-001", "SVC-002", "service one", None, "#N/A", "SVC-003"],
    "service_name": ["Dental care", None, " ", "x" * 150],
    "category": ["Community health", "Dentistry", None, 7.0],
    "commissioner_code": ["QUA", "not a code", None, "qua"],
    "funding_source": ["NHS", "Lottery", None, True],
    "annual_value_gbp": [1_250_000.0, "about a million", "£1,000", None, -5.0, "#DIV/0!"],
    "start_year": [1.0, "soon", 2.5, None, 99.0],
    "anticipated_extension": ["Yes", "maybe", None, "n"],
    "delivery": ["In person", "By post", None],
    "subcontractor_id": [None, "partner ten", "P-001"],
}


@pytest.mark.parametrize("seed", range(6))
def test_bounded_parse_lists_exactly_what_capping_the_whole_parse_lists(tmp_path, seed):
    """Randomised Services and Partners sheets full of faults: the parse that stops building findings
    at the limit gives, once capped, the very same findings, order, notes and counts as capping the
    parse that builds them all; and it never keeps more than the limit of one rule on one sheet."""
    import random
    from collections import Counter

    from isap.policy import Policy
    from isap.workbook.findings import Unlisted, cap_findings
    from isap.workbook.parse import parse
    from isap.workbook.safety import inspect
    from sample_submissions.proposals import clean, write

    rng = random.Random(seed)
    p = clean(rng.choice([1, 2, 3]))
    p["Services"] = [{c: rng.choice(vals) for c, vals in _SERVICE_VALUES.items()}
                     for _ in range(rng.randint(5, 60))]
    for row in p["Partners"]:
        for c in list(row):
            if rng.random() < 0.3:
                row[c] = rng.choice([None, "bad", row[c], 3.0])
    path = write(p, tmp_path / "p.xlsx")
    inspection = inspect(path, Policy())
    whole = parse(inspection)
    assert not any(isinstance(f, Unlisted) for f in whole.structural_findings)
    for limit in (1, 2, 3, 7):
        bounded = parse(inspection, None, limit)
        kept = Counter((f.rule_id, f.sheet) for f in bounded.structural_findings if not isinstance(f, Unlisted))
        assert max(kept.values()) <= limit
        assert cap_findings(bounded.structural_findings, limit) == cap_findings(whole.structural_findings, limit)
    counts = Counter((f.rule_id, f.sheet) for f in whole.structural_findings)
    assert max(counts.values()) > 7, counts  # the cases did reach the limits


# ------------------------------------------------------------------ small output fixes

def test_junit_counts_the_findings_a_note_stands_for_not_the_note(tmp_path):
    import xml.etree.ElementTree as ET

    from isap.outputs.exports import to_junit
    from isap.rules.engine import CheckReport
    from isap.workbook.findings import cap_findings

    r = CheckReport("many.xlsx", "0" * 64, "1.0", 2, {})
    r.findings, r.unlisted = cap_findings([_f(row=n) for n in range(2, 1_202)]
                                          + [_f("SCH003", row=n, column="category") for n in range(2, 5)], 500)
    assert r.summary["error"] == 1_203
    cases = {c.get("name").split()[0]: c for c in ET.fromstring(to_junit([r])).iter("testcase")}
    sch002 = cases["SCH002"].find("failure")
    assert sch002.get("message").startswith("1,200 findings, 500 listed: "), sch002.get("message")
    assert "bad 2" in sch002.get("message")          # the first real finding, never the note
    assert "700 more SCH002 findings" in sch002.text  # the note is still there, as a line of its own
    assert cases["SCH003"].find("failure").get("message").startswith("3 findings: ")


def test_unknown_sheet_names_are_cut_in_the_report_and_keep_their_order(run_check):
    from sample_submissions.proposals import Layout, clean

    layout = Layout(extra_sheets={"Z" * 300: [["x"]], "A" * 300: [["x"]]})
    report = run_check(clean(2), layout)
    wb006 = [f for f in report.findings if f.rule_id == "WB006"]
    assert [f.sheet for f in wb006] == [values.clip("Z" * 300), values.clip("A" * 300)]  # workbook order
    assert all(len(f.sheet) == 101 and f.sheet[:100] in f.message for f in wb006)


# ---------------------------------------------------------------------------- Cover text echoed into reports
def _cover_text(tmp_path, field: str, text: str):
    """A clean workbook whose Cover `field` holds `text` exactly (written through openpyxl as a string)."""
    from sample_submissions.proposals import clean, write

    proposal = clean(2)
    proposal["Cover"][field] = text
    return write(proposal, tmp_path / f"{field}.xlsx")


def test_cover_text_echoed_into_the_report_is_bounded(tmp_path):
    from isap.rules.engine import TITLE_LIMIT, check_file

    huge = "x" * 1_000_000
    report = check_file(_cover_text(tmp_path, "template_version", huge))
    assert len(report.template_version) <= 101 and report.template_version.startswith("xxx")
    assert len(json.dumps(report.to_dict())) < 100_000
    report = check_file(_cover_text(tmp_path, "proposal_title", huge))
    assert report.title is not None and len(report.title) <= TITLE_LIMIT + 1
    assert check_file(_cover_text(tmp_path, "contact_email", "a@" + "." * 300)).contact_email is None


# ---------------------------------------------------------------------------- text that would drive a terminal
def test_control_characters_from_a_workbook_never_reach_the_terminal_raw(tmp_path):
    from tests.hostile import rezip

    marker = "TITLEMARKER"
    data = _cover_text(tmp_path, "template_version", marker).read_bytes()
    import io
    import zipfile

    cover = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet2.xml").decode()  # inline strings
    # OOXML's own escapes for ESC and BEL, as a hostile writer would put them, and a right-to-left override as
    # itself (escaped, a printable character is refused: spreadsheet programs show the escape as typed)
    hostile = "X_x001B_]0;owned_x0007__x001B_[2J_x001B_[31mFAKE: 0 errors_x001B_[0m\u202e"
    path = tmp_path / "controls.xlsx"
    path.write_bytes(rezip(data, replace={"xl/worksheets/sheet2.xml": cover.replace(marker, hostile).encode()}))
    r = subprocess.run([sys.executable, "-m", "isap.cli", "check", str(path)], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "owned" in r.stdout  # the text is reported ...
    for raw in ("\x1b", "\x07", "\u202e"):  # ... but none of its control characters reaches the terminal
        assert raw not in r.stdout and raw not in r.stderr
    assert "\\x1b]0;owned\\x07" in r.stdout  # shown as an escape anyone can read


# ---------------------------------------------------------------------------- the annotated copy, made under the limits
def test_the_annotated_copy_is_made_in_a_limited_child_and_its_failure_is_an_annotate_error(tmp_path, monkeypatch):
    from isap.outputs import annotated_copy
    from isap.rules.engine import check_file
    from isap.workbook import isolation
    from sample_submissions.proposals import clean, write

    proposal = clean(2)
    proposal["Services"][0]["category"] = "Not a category"
    path = write(proposal, tmp_path / "w.xlsx")
    report = check_file(path)
    calls = []
    real_run = isolation.run

    def spy(fn, args, limits):
        calls.append((fn, limits))
        return real_run(fn, args, limits)

    monkeypatch.setattr(isolation, "run", spy)
    copy, marked = annotated_copy.annotated_copy(path.read_bytes(), report)
    assert marked >= 1 and copy[:2] == b"PK"
    assert [fn for fn, _ in calls] == [annotated_copy._annotate_in_child]  # openpyxl read the bytes in a limited child
    # a child that runs out of a limit: the copy is refused with the reason, and the caller carries on
    monkeypatch.setattr(isolation, "run", lambda fn, args, limits: isolation.Failure("memory", "it needed more"))
    with pytest.raises(annotated_copy.AnnotateError, match="safety limits"):
        annotated_copy.annotated_copy(path.read_bytes(), report)


def test_markdown_export_leaves_no_bare_email_address_for_a_linkifier():
    import html
    import re

    from markdown_it import MarkdownIt

    from isap.outputs.exports import md_text

    shown = html.unescape(
        re.sub(r"<[^>]+>", "", MarkdownIt("commonmark").render(md_text("mail helpdesk@evil.example")))
    )
    assert shown.replace("\u2060", "").strip() == "mail helpdesk@evil.example"  # reads as written
    # GitHub's extended e-mail autolink: local part, @, then a domain with a dot, all in one run of text
    assert not re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", shown)


def test_markdown_export_leaves_no_bare_web_address_for_a_linkifier():
    """GitHub's extended autolinks also take `http://…` and `www.…`: the report breaks those runs too, as the
    dashboard does (one escaper for both)."""
    import html
    import re

    from markdown_it import MarkdownIt

    from isap.outputs.exports import md_text

    text = "see http://evil.example/x and www.evil.example"
    shown = html.unescape(re.sub(r"<[^>]+>", "", MarkdownIt("commonmark").render(md_text(text))))
    assert shown.replace("\u2060", "").strip() == text  # reads as written
    assert not re.search(r"(?i)(?:https?://|www\.)[\w-]", shown)  # no run a linkifier would take
