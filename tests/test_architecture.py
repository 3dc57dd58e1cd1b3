"""The architecture holds: no import cycle, lazy imports included, and the layer contracts are kept.

import-linter (run by CI as `lint-imports`) checks the layers; it does not look for cycles inside
a layer, which is where they used to hide behind imports inside functions.  grimp, the graph
import-linter is built on, sees every import statement, at module level or inside a function.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("isap", "checks", "dashboards", "sample_submissions")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _cycles(graph) -> list[list[str]]:
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if importer == imported:
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                found.append([importer, *back])
    return found


def test_no_module_imports_itself_back_through_any_chain(graph):
    assert _cycles(graph) == []


def test_the_cycle_check_can_fail():
    g = grimp.ImportGraph()
    for m in ("a", "a.x", "a.y", "a.z"):
        g.add_module(m)
    g.add_import(importer="a.x", imported="a.y")
    g.add_import(importer="a.y", imported="a.z")
    assert _cycles(g) == []
    g.add_import(importer="a.z", imported="a.x")  # as an import inside a function would
    assert ["a.x", "a.y", "a.z", "a.x"] in _cycles(g)


def test_the_registry_never_imports_the_checks(graph):
    assert not graph.chain_exists(importer="isap.rules.registry", imported="checks", as_packages=True)
    assert not graph.chain_exists(importer="isap.rules.engine", imported="checks", as_packages=True)


def test_import_contracts_are_kept():
    proc = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
