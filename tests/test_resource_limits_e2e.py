"""What a hostile or very large file costs the checking child, measured from outside: each file is checked in a
fresh process and the kernel's count of that process's processor time and peak resident memory is held to the
limits (about 10 s, under 300 MB).  These tests start real processes and build files of tens of megabytes, so
they are in the e2e tier (CONTRIBUTING.md); the same files' findings are in `test_safety.py`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from tests.hostile import WHOLE_PARTS, deflating, valid_bytes

# Checks one file in a fresh child (the work the isolated child does) and reports that child's own
# processor time and peak resident memory, as the kernel counts them.
COST_PROBE = textwrap.dedent("""
    import json, resource, subprocess, sys
    code = ("import json, sys; from isap.rules.engine import check_file_in_process as c; r = c(sys.argv[1]); "
            "print(json.dumps([[f.rule_id, f.message] for f in r.findings]))")
    p = subprocess.run([sys.executable, "-c", code, sys.argv[1]], capture_output=True, text=True, timeout=600)
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rc": p.returncode, "out": p.stdout, "err": p.stderr[-3000:],
                      "cpu": use.ru_utime + use.ru_stime, "peak_mb": use.ru_maxrss / 1024}))
""")


@pytest.fixture(scope="module")
def costly(tmp_path_factory):
    from tests.hostile import (
        attributes_in_parts,
        attributes_on_shared_strings_root,
        attributes_on_worksheet_root,
        flat_in_parts,
        inline_partners,
        junk_elements,
        long_title,
        many_shared_strings,
        many_sheets,
        nested_in_parts,
        prose,
        repeated_shared_text,
        shared_text_no_relationship_names,
        wide_area_of_short_text,
        wide_engagement,
        wide_rows_without_r,
    )

    tmp = tmp_path_factory.mktemp("costly")
    base = valid_bytes(tmp)
    out = {}
    for name, build in (("wide_rows_without_r", wide_rows_without_r), ("junk_elements", junk_elements),
                        ("many_shared_strings", many_shared_strings), ("repeated_shared_text", repeated_shared_text),
                        ("wide_area_of_short_text", wide_area_of_short_text),
                        ("shared_text_no_relationship_names", shared_text_no_relationship_names),
                        # one cell of 50 million characters, one above U+FFFF: 200 MB as Python holds it
                        ("huge_inline_title", lambda b: long_title(b, prose(50_000_000, emoji=True))),
                        # 30,000 valid Engagement rows of two 1,150-character inline texts with an emoji each
                        ("wide_inline_engagement", lambda b: wide_engagement(b, 30_000, 1150)),
                        # Partners at 99,000 rows of distinct inline text, and 1.95 million junk elements
                        ("inline_text_and_junk", lambda b: junk_elements(inline_partners(b), 1_950_000)),
                        # over a million elements nested in the styles part, and in every part parsed whole
                        ("nested_styles", nested_in_parts),
                        ("nested_in_every_whole_part", lambda b: nested_in_parts(b, WHOLE_PARTS)),
                        # over two million empty elements in every part parsed whole
                        ("flat_in_every_whole_part", flat_in_parts),
                        # a million attributes of distinct names on one element, or one to an element
                        ("attributes_on_one_element", attributes_in_parts),
                        ("attributes_one_to_an_element", lambda b: attributes_in_parts(b, per_element=1)),
                        # 40 MiB of attributes on the root tag of the shared strings, or of a worksheet
                        ("attributes_on_the_shared_strings_root", attributes_on_shared_strings_root),
                        ("attributes_on_a_worksheet_root", attributes_on_worksheet_root),
                        # 12,000 one-cell worksheets (a 3 MB file)
                        ("many_sheets", many_sheets)):
        out[name] = tmp / f"{name}.xlsx"
        # zlib's fastest level halves the building, which is mostly deflate; two files keep its default level,
        # the only one that packs their long repeated runs under the file-size limit
        with deflating(None if name in ("junk_elements", "wide_area_of_short_text") else 1):
            out[name].write_bytes(build(base))
    return out


@pytest.mark.parametrize("name", ["wide_rows_without_r", "junk_elements", "many_shared_strings",
                                  "repeated_shared_text", "wide_area_of_short_text",
                                  "shared_text_no_relationship_names", "huge_inline_title",
                                  "wide_inline_engagement", "inline_text_and_junk", "nested_styles",
                                  "nested_in_every_whole_part", "flat_in_every_whole_part",
                                  "attributes_on_one_element", "attributes_one_to_an_element",
                                  "attributes_on_the_shared_strings_root", "attributes_on_a_worksheet_root",
                                  "many_sheets"])
def test_a_costly_file_within_the_size_limits_is_refused_in_bounded_cpu_and_memory(costly, name):
    """Each file is under every size limit (25 MB, 250 MB inflated, 200:1) yet, read naively, costs
    minutes of processor time or over 600 MB: it gets its WB003 within about 10 s of processor time
    and 300 MB, measured by the kernel for the child that checked it."""
    from isap.policy import Policy

    assert costly[name].stat().st_size <= Policy().max_file_bytes
    proc = subprocess.run([sys.executable, "-c", COST_PROBE, str(costly[name])], capture_output=True, text=True,
                          timeout=900)
    result = json.loads(proc.stdout)
    assert result["rc"] == 0 and "Traceback" not in result["err"], result
    findings = json.loads(result["out"])
    assert [rule for rule, _ in findings] == ["WB003"], findings
    assert "time limit" not in findings[0][1], findings  # refused for what it is, not for running out of time
    assert result["cpu"] < 10, f"{name}: {result['cpu']:.1f} s of processor time"
    assert result["peak_mb"] < 300, f"{name}: peak {result['peak_mb']:.0f} MB"


def test_the_widest_sheet_of_text_the_limits_allow_is_read_whole_under_300_mb(tmp_path):
    """Hostile in shape only: Services 87,000 rows × 16 columns of 17-character shared text, just under the
    workbook's area (1,400,000 cells) and the text its cells may copy (32 MiB, each entry counted with its
    `<t>` tags).  What a reader holds follows both: 5,000,000 such cells in one sheet (the per-sheet area)
    took 590 MB (docs/performance.md)."""
    from tests.hostile import repeated_shared_text

    path = tmp_path / "widest.xlsx"
    path.write_bytes(repeated_shared_text(valid_bytes(tmp_path), entries=5000, length=17, rows=87_000, columns=16))
    proc = subprocess.run([sys.executable, "-c", COST_PROBE, str(path)], capture_output=True, text=True,
                          timeout=900)
    result = json.loads(proc.stdout)
    assert result["rc"] == 0 and "Traceback" not in result["err"], result
    rules = {rule for rule, _ in json.loads(result["out"])}
    assert not any(rule.startswith("WB") for rule in rules), rules  # within every limit: read and checked
    assert result["peak_mb"] < 300, f"peak {result['peak_mb']:.0f} MB"


def test_cells_naming_a_million_distinct_texts_are_checked_holding_each_sheet_once(tmp_path):
    """Services 87,000 rows × 16 columns of 17-character shared text, as in the test above, but naming up to
    a million distinct entries (the shared strings limit): none repeats, so each is a text of its own once
    read, and most are wrong for their column.  Read while the small sheets were still being read, and
    typed with every wrong cell worded before any was taken out, it peaked at 467 MB, and at 316-321 MB while
    fastexcel's open workbook was held as the large sheet's cells became columns, the Cover was typed beside
    that read, and each wrong column's rows were a set of Python numbers (docs/performance.md, "Distinct
    shared text")."""
    from tests.hostile import repeated_shared_text

    path = tmp_path / "distinct.xlsx"
    path.write_bytes(repeated_shared_text(valid_bytes(tmp_path), entries=1_000_000, length=17, rows=87_000,
                                          columns=16))
    proc = subprocess.run([sys.executable, "-c", COST_PROBE, str(path)], capture_output=True, text=True,
                          timeout=900)
    result = json.loads(proc.stdout)
    assert result["rc"] == 0 and "Traceback" not in result["err"], result
    rules = {rule for rule, _ in json.loads(result["out"])}
    assert not any(rule.startswith("WB") for rule in rules) and {"SCH002", "SCH005"} <= rules, rules
    assert result["cpu"] < 15, f"{result['cpu']:.1f} s of processor time"
    assert result["peak_mb"] < 300, f"peak {result['peak_mb']:.0f} MB"


def test_the_largest_well_written_workbook_the_limits_allow_is_checked_under_300_mb(tmp_path):
    """Not hostile to the scan: Partners at the row limit (99,997 rows) and Services as long as the workbook's
    area limit then allows (9,950 rows), every row well formed and every service a finding (docs/performance.md)."""
    from benchmarks.hostile_cost import _largest_typed

    _largest_typed(tmp_path)
    path = tmp_path / "largest.xlsx"
    proc = subprocess.run([sys.executable, "-c", COST_PROBE, str(path)], capture_output=True, text=True,
                          timeout=900)
    result = json.loads(proc.stdout)
    assert result["rc"] == 0 and "Traceback" not in result["err"], result
    findings = json.loads(result["out"])
    rules = {rule for rule, _ in findings}
    assert "SCP004" in rules and not any(rule.startswith("WB") for rule in rules), rules  # read and checked whole
    assert result["peak_mb"] < 300, f"peak {result['peak_mb']:.0f} MB"


def test_a_shared_string_of_megabytes_of_tags_and_little_text_is_refused_in_bounded_memory(tmp_path):
    """An entry's bytes over 32,767 make the scan count its characters; counted by stripping its tags into a new
    text, three million empty elements around six characters took the checking child past 300 MB (twelve
    million, past 1.2 GB). Elements no spreadsheet program writes in an entry are now WB001 at the first, in
    bounded memory and time."""
    from tests.hostile import junk_in_one_shared_string

    path = tmp_path / "junk-entry.xlsx"
    path.write_bytes(junk_in_one_shared_string(valid_bytes(tmp_path)))
    proc = subprocess.run([sys.executable, "-c", COST_PROBE, str(path)], capture_output=True, text=True,
                          timeout=900)
    result = json.loads(proc.stdout)
    assert result["rc"] == 0 and "Traceback" not in result["err"], result
    assert [rule for rule, _ in json.loads(result["out"])] == ["WB001"], result["out"][:500]
    # the first of the junk elements, one of <a/> to <p/> at random
    assert re.search(r"holds an element named '[a-p]', which no spreadsheet program writes there", result["out"])
    assert result["cpu"] < 10, f"{result['cpu']:.1f} s of processor time"
    assert result["peak_mb"] < 300, f"peak {result['peak_mb']:.0f} MB"
