"""`isap check` stays light: neither the command nor the child that checks loads the heavy layers.

People wait for `isap check`; importing pandas, Prefect, Streamlit or the database layer would
cost them seconds for nothing the check uses (docs/performance.md).  Each test runs a real check
in a fresh process and looks at every module imported there and in its checking child.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sample_submissions.proposals import clean, write

pytestmark = pytest.mark.integration  # real `isap check` processes

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "prefect", "streamlit", "sqlalchemy", "sqlmodel")

# Runs the CLI as the `isap` command does, and writes down every module loaded: in the command
# when it exits, and in its checking child (a fork of it) as it is forked and after each file it checked.
RECORDING_CLI = textwrap.dedent("""
    import atexit, json, os, sys
    log = sys.argv.pop(1)

    def record(what):
        policy = sys.modules.get("isap.policy")  # and whether the policy's validation model was built
        built = bool(policy and policy.policy_model.cache_info().currsize)
        with open(log, "a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "what": what, "modules": sorted(sys.modules),
                                 "policy_model": built}) + "\\n")

    from isap.workbook import isolation
    checked = isolation._limited

    def limited(fn, args, limits):
        try:
            return checked(fn, args, limits)
        finally:
            record("child")

    isolation._limited = limited
    preload = isolation._import

    def forked(names):  # what the child has when it is forked: all the command imported before forking it
        record("forked")
        preload(names)

    isolation._import = forked
    atexit.register(record, "command")
    sys.argv[0] = "isap"
    from isap.command import main  # the installed `isap` command's entry point (pyproject.toml)
    main()
""")


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("light")
    faulty = clean(2)
    faulty["Services"][0]["category"] = "Dentistry"  # SCH003: the schemas run and report
    return [write(clean(2), d / "clean.xlsx"), write(faulty, d / "faulty.xlsx")]


def _loaded(tmp_path: Path, args: list[str]) -> tuple[subprocess.CompletedProcess, dict[str, set[str]]]:
    """Runs `isap ARGS`; returns what it printed and, for the command and its child, the top-level
    packages loaded there."""
    log = tmp_path / "modules.log"
    log.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-c", RECORDING_CLI, str(log), *args], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    loaded: dict[str, set[str]] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        loaded.setdefault(entry["what"], set()).update(m.split(".")[0] for m in entry["modules"])
    return proc, loaded


def test_isap_check_and_its_checking_child_load_no_heavy_layer(tmp_path, workbooks):
    proc, loaded = _loaded(tmp_path, ["check", "--format", "json", *map(str, workbooks)])
    assert proc.returncode == 1, proc.stderr  # the faulty workbook has an error
    reports = json.loads(proc.stdout)
    assert [f["rule_id"] for f in reports[1]["findings"]] == ["SCH003"]
    assert set(loaded) == {"command", "forked", "child"}
    assert {"python_calamine", "polars", "pandera"} <= loaded["child"]  # what the check does need
    # the command leaves polars to the child: a process that has run polars cannot fork safely
    assert "polars" not in loaded["command"]
    for where, names in loaded.items():
        assert not names & set(HEAVY), f"the {where} loaded {sorted(names & set(HEAVY))}"
        assert "numpy" not in names, f"the {where} loaded numpy"


def test_a_refused_file_and_help_load_no_heavy_layer_either(tmp_path):
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    for args in (["check", str(junk)], ["check", "--help"]):
        proc, loaded = _loaded(tmp_path, args)
        assert proc.returncode in (0, 2), proc.stderr
        assert loaded
        for where, names in loaded.items():
            assert not names & set(HEAVY), (args, where, sorted(names & set(HEAVY)))



def _full_names(tmp_path: Path) -> dict[str, set[str]]:
    loaded: dict[str, set[str]] = {}
    for line in (tmp_path / "modules.log").read_text().splitlines():
        entry = json.loads(line)
        loaded.setdefault(entry["what"], set()).update(entry["modules"])
        if entry["policy_model"]:
            loaded[entry["what"]].add("the policy's validation model")
    return loaded


def test_with_the_default_policy_nothing_builds_the_policys_validation_and_the_child_starts_first(tmp_path, workbooks):
    """The defaults need no checking: neither the command nor its child builds the policy's pydantic model
    (about a third of the command's start-up, docs/performance.md)."""
    proc, _ = _loaded(tmp_path, ["check", str(workbooks[0])])
    assert proc.returncode == 0, proc.stderr
    assert "Policy: working_capital_months=1.0" in proc.stdout
    for where, names in _full_names(tmp_path).items():
        assert "the policy's validation model" not in names, where
    # and the command forks its child before the command line's own imports (its options' parser, the review
    # layer's words), which the child never needs
    forked = _full_names(tmp_path)["forked"]
    assert "isap.rules.engine" in forked
    assert not {"typer", "isap.cli", "isap.review.wording", "isap.review.lifecycle"} & forked


def test_with_a_policy_file_the_command_checks_it_and_uses_it(tmp_path, workbooks):
    (tmp_path / "isap-policy.toml").write_text("[policy]\nworking_capital_months = 2\n")
    proc, _ = _loaded(tmp_path, ["check", str(workbooks[0])])
    assert "working_capital_months=2.0" in proc.stdout, proc.stderr
    assert "the policy's validation model" in _full_names(tmp_path)["command"]
    (tmp_path / "isap-policy.toml").write_text("[policy]\nworking_capital_months = 0\n")
    proc, _ = _loaded(tmp_path, ["check", str(workbooks[0])])
    assert proc.returncode == 2
    assert "working_capital_months: Input should be greater than 0" in proc.stderr
    assert "Traceback" not in proc.stderr


# A long-running process (dashboard, worker) checks in children of a forkserver that it starts; the
# forkserver is a fresh interpreter, so what it loads is only what the check needs.
FORKSERVER_CHILD = textwrap.dedent("""
    import json, sys
    from isap.rules import engine
    from isap.workbook import isolation

    pool = isolation.Isolation("forkserver", workers=1)
    limits = isolation.Limits(60, 60, 1 << 31)
    report, _ = pool.run(engine._check_in_child, (sys.argv[1], None, None, (), ()), limits)
    loaded = pool.run(eval, ("sorted(__import__('sys').modules)",), limits)  # the same child
    pool.close()
    print(json.dumps({"findings": [f.rule_id for f in report.findings], "loaded": loaded}))
""")


def test_the_forkserver_child_that_checks_loads_no_heavy_layer(workbooks):
    proc = subprocess.run([sys.executable, "-c", FORKSERVER_CHILD, str(workbooks[1])], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["findings"] == ["SCH003"]
    loaded = {m.split(".")[0] for m in out["loaded"]}
    assert "polars" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_installed_command_starts_where_the_child_is_forked_first():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["isap"] == "isap.command:main"
