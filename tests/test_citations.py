"""The project cites its own statement of the contract, never files beside it.

A clone of the project has `docs/workbook.md`, `docs/workflow.md` and `docs/rules.md`, not the
product spec that sits beside a working copy (`../shared/spec/`). Code, tests and documents cite the
former ("docs/workbook.md §4"); only the contract test, which compares the registry with the spec
when the spec is there, and the decision log name the spec itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the contract test and its mirror compare against the spec when it is beside the project; decisions are history
MAY_NAME_THE_SPEC = {"tests/test_contract.py", "tests/contract/rules.yml", "tests/test_citations.py"}
BESIDE = re.compile(r"\.\./shared|shared/spec")
# a spec document's name cited bare: not after `docs/` (or any path), and not a string that is just a file name
BARE = re.compile(r"(?<![\w/.\-])(?:workbook|workflow|rules)\.md(?![\"'])")


def project_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [f for f in listed if f.endswith((".py", ".md", ".yml", ".yaml", ".toml", ".sh", ".txt", ".cfg"))
            and (ROOT / f).is_file()]


def citations(path: str, text: str) -> list[str]:
    if path in MAY_NAME_THE_SPEC or path.startswith("docs/decisions"):
        return []
    found = [m.group(0) for m in BESIDE.finditer(text)]
    if not path.startswith("docs/"):  # inside docs/ a bare name is a link to its neighbour
        found += [m.group(0) for m in BARE.finditer(text)]
    return found


def test_nothing_cites_the_spec_beside_the_project():
    wrong = {f: c for f in project_files() if (c := citations(f, (ROOT / f).read_text(encoding="utf-8")))}
    assert wrong == {}, "cite docs/workbook.md, docs/workflow.md or docs/rules.md instead"


def test_the_check_finds_what_it_must():
    assert citations("isap/x.py", '"""As workbook.md §4 says."""') == ["workbook.md"]
    assert citations("isap/x.py", "# see ../shared/spec/rules.md") == ["../shared"]
    assert citations("isap/x.py", '"""workflow.md says so."""') == ["workflow.md"]
    assert citations("isap/x.py", "# see docs/workflow.md") == []
    assert citations("scripts/x.py", 'DOCS / "rules.md"') == []
    assert citations("docs/x.md", "[rules](rules.md)") == []
    assert citations("docs/x.md", "(`../shared/spec/rules.md`)") == ["../shared"]
    assert citations("docs/decisions/0001-reading-workbooks.md", "../shared/spec/rules.md") == []


def test_the_contract_documents_exist():
    for name in ("workbook.md", "workflow.md", "rules.md", "policy.md", "cli.md"):
        assert (ROOT / "docs" / name).is_file(), name
