"""Checking a file can never take down the process that asked: isolation, limits and engine defects.

Every hostile case is built here; a child is made to misbehave through the isolation API itself
(an arbitrary function run in a limited child), which no workbook content can reach.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from isap.policy import Policy
from isap.rules import engine
from isap.rules.registry import ALL_CHECKPOINTS, assurance_rule
from isap.workbook import isolation
from isap.workbook.findings import Domain, Severity
from sample_submissions.proposals import clean, write
from tests.hostile import engagement_part, rezip, sheet_xml

pytestmark = pytest.mark.integration  # the sandbox: children, limits, kills

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def typical(tmp_path_factory) -> Path:
    return write(clean(2), tmp_path_factory.mktemp("typical") / "typical.xlsx")


@pytest.fixture
def raising_rule():
    """A rule that raises, registered for one test only (as a defect in a real rule would)."""
    from isap.rules import registry

    @assurance_rule("GOV999", severity=Severity.ERROR, domain=Domain.GOVERNANCE, checkpoints=ALL_CHECKPOINTS,
                    summary="Test rule that fails.", source="test", explanation="Raises, as a defective rule would.")
    def broken(wb, policy):
        yield from ()
        raise KeyError("no_such_field")

    registry.installed().extend([broken.rule])
    yield "GOV999"
    registry.installed().remove("GOV999")


# ---------------------------------------------------------------------------- engine defects

def test_a_rule_that_raises_is_an_engine_defect_and_the_other_rules_still_report(typical, tmp_path, raising_rule,
                                                                                  caplog):
    faulty = write(_with_bad_email(clean(2)), tmp_path / "faulty.xlsx")
    expected = engine.check_file_in_process(faulty, ignore=[raising_rule]).findings
    assert expected, "the faulty workbook must have findings of its own"
    caplog.set_level(logging.ERROR, logger="isap.rules.engine")
    report = engine.check_file_in_process(faulty)
    defects = [f for f in report.findings if f.rule_id == engine.ENGINE_DEFECT]
    assert len(defects) == 1
    assert "isap itself failed" in defects[0].message and "GOV999" in defects[0].message
    assert [f for f in report.findings if f.rule_id != engine.ENGINE_DEFECT] == expected
    assert report.exit_code == 3
    assert not report.refused
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "Traceback" in errors[0] and "no_such_field" in errors[0]
    json.loads(json.dumps(report.to_dict()))  # still valid JSON


def test_a_parser_defect_is_an_engine_defect_not_an_unreadable_workbook(typical, monkeypatch, caplog):
    import isap.workbook.parse

    def broken_parse(*a, **k):
        raise AttributeError("'NoneType' object has no attribute 'rows'")

    monkeypatch.setattr(isap.workbook.parse, "parse", broken_parse)
    caplog.set_level(logging.ERROR, logger="isap.rules.engine")
    report = engine.check_file_in_process(typical)
    assert [f.rule_id for f in report.findings] == [engine.ENGINE_DEFECT]
    assert "isap itself failed" in report.findings[0].message
    assert report.exit_code == 3
    assert report.sha256 is not None
    assert any(r.levelno == logging.ERROR and "Traceback" in r.getMessage() for r in caplog.records)


def test_worst_status_wins_three_over_two_over_one(typical, tmp_path, raising_rule):
    refused = tmp_path / "refused.xlsx"
    refused.write_bytes(b"not a workbook")
    faulty = write(_with_bad_email(clean(2)), tmp_path / "faulty.xlsx")
    statuses = [(engine.check_file_in_process(p)).exit_code for p in (refused, faulty)]
    assert statuses == [2, 3]
    assert engine.worst_status(statuses + [1, 0]) == 3
    assert engine.worst_status([0, 2, 1]) == 2


def test_cli_exits_3_with_a_json_report_for_an_engine_defect(tmp_path):
    """The real CLI, with a rule made defective in its own process (the child is its fork)."""
    faulty = write(_with_bad_email(clean(2)), tmp_path / "faulty.xlsx")
    script = textwrap.dedent("""
        import sys
        from isap.rules import registry
        from isap.workbook.findings import Domain, Severity
        @registry.assurance_rule("GOV999", severity=Severity.ERROR, domain=Domain.GOVERNANCE,
                                 checkpoints=registry.ALL_CHECKPOINTS, summary="x", source="x", explanation="x")
        def broken(wb, policy):
            raise KeyError("no_such_field")
        registry.installed().extend([broken.rule])
        from isap.cli import main
        sys.argv = ["isap", "check", "--format", "json", sys.argv[1]]
        main()
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(faulty)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    ids = [f["rule_id"] for f in report["findings"]]
    assert engine.ENGINE_DEFECT in ids and len(ids) > 1
    assert "KeyError" in proc.stderr and "Traceback" in proc.stderr  # logged with its traceback, for isap's team


def _with_bad_email(p):
    p["Cover"]["contact_email"] = "not an address"
    return p


# ---------------------------------------------------------------------------- misbehaving children


def _abort():
    os.abort()


def _allocate(n):
    return len(bytearray(n))


def _spin():
    while True:
        pass


def _sleep():
    time.sleep(60)


def _native_huge_allocation():
    """What calamine does with a huge extent: a native allocation that cannot be met aborts."""
    import ctypes

    import python_calamine  # noqa: F401  (a Rust reader in the child, as for a real file)

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    if not libc.malloc(ctypes.c_size_t(550 * 10**9)):
        os.write(2, b"memory allocation of 550000000000 bytes failed\n")
        os.abort()


def test_a_workbook_is_checked_by_the_pool_after_a_child_crashed(typical):
    # (the forked child's twin runs from a fresh parent: tests/test_forked_child.py; the rest of the
    # children's contract, for both kinds, is tests/test_checking_children.py)
    limits = isolation.Limits(wall_seconds=60.0, cpu_seconds=30.0, memory_bytes=1 << 30)
    pool = isolation.Isolation("forkserver", workers=1)
    try:
        failure = pool.run(_abort, (), limits)
        assert isinstance(failure, isolation.Failure) and failure.kind == "crash"
        report = pool.run(engine.check_file_in_process, (typical,), limits)
        assert isinstance(report, engine.CheckReport) and report.findings == [] and report.exit_code == 0
    finally:
        pool.close()


def _burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return "done"


# ---------------------------------------------------------------------------- the check's findings

def test_a_failed_child_becomes_a_wb003_or_wb001_finding_for_that_file(typical, monkeypatch):
    policy = Policy(max_memory_bytes=1 << 30, max_cpu_seconds=2, max_seconds_per_file=5)
    cases = {"memory": ("WB003", "memory"), "cpu": ("WB003", "processor time"), "time": ("WB003", "longer than"),
             "crash": ("WB001", "stopped abruptly")}
    for kind, (rule, words) in cases.items():
        monkeypatch.setattr(isolation, "run",
                            lambda fn, args, limits, owner="", k=kind: isolation.Failure(k, _detail(k)))
        report = engine.check_file(typical, policy)
        assert [f.rule_id for f in report.findings] == [rule], kind
        assert words in report.findings[0].message
        assert report.exit_code == 2 and report.refused
        assert report.sha256 and report.template_version is None


def _detail(kind):
    return {"memory": "it needed more than the 1,024 MiB of memory allowed",
            "cpu": "it used more than the 2 seconds of processor time allowed",
            "time": "it took longer than the 5 seconds allowed",
            "crash": "the reader stopped abruptly (SIGSEGV)"}[kind]


def hostile_extent(tmp: Path) -> Path:
    """A clean workbook whose Engagement sheet also has a cell at XFD1048576: read naively, a 17-billion-cell grid."""
    base = write(clean(2), tmp / "base.xlsx").read_bytes()
    eng = engagement_part(base)
    p = tmp / "extent.xlsx"
    p.write_bytes(rezip(base, replace={eng: sheet_xml(
        '<row r="1"><c r="A1" t="inlineStr"><is><t>engagement_id</t></is></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row>')}))
    return p


# The scan's limits opened wide by policy values, so the extent reaches python-calamine for real.
LOOSE = textwrap.dedent("""
    [policy]
    max_cells_per_sheet = 1000000000000000
    max_rows_per_sheet = 10000000
    max_memory_bytes = 2147483648
""")


def test_cli_on_a_file_that_crashes_the_reader_exits_2_with_a_json_report(tmp_path):
    path = hostile_extent(tmp_path)
    policy = tmp_path / "loose.toml"
    policy.write_text(LOOSE)
    proc = subprocess.run([sys.executable, "-m", "isap.cli", "check", "--format", "json", "--policy", str(policy),
                           str(path), str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    reports = json.loads(proc.stdout)
    for report in reports:
        assert [f["rule_id"] for f in report["findings"]] in (["WB003"], ["WB001"]), report["findings"]
        assert report["policy"]["max_memory_bytes"] == 2147483648
    assert "Traceback" not in proc.stderr and "panicked" not in proc.stderr


def test_check_bytes_of_a_crashing_file_is_a_finding_and_the_process_lives(tmp_path):
    data = hostile_extent(tmp_path).read_bytes()
    policy = Policy(max_cells_per_sheet=10**15, max_rows_per_sheet=10**7, max_memory_bytes=2 << 30)
    report = engine.check_bytes(data, "extent.xlsx", policy)
    assert report.file == "extent.xlsx"
    assert [f.rule_id for f in report.findings] in (["WB003"], ["WB001"])
    assert report.exit_code == 2
    typical = engine.check_bytes(write(clean(2), tmp_path / "ok.xlsx").read_bytes(), "ok.xlsx")
    assert typical.findings == []


# ---------------------------------------------------------------------------- children die with their parent

PARENT = textwrap.dedent("""
    import sys, time
    from isap.workbook import isolation
    context = sys.argv[1]
    pool = isolation.Isolation(context, workers=2)
    pool.warm()
    import psutil
    me = psutil.Process()
    print(" ".join(str(c.pid) for c in me.children(recursive=True)), flush=True)
    if sys.argv[2] == "busy":
        pool._pool.schedule(time.sleep, args=(600,))
    time.sleep(600)
""")


@pytest.mark.parametrize("context,state", [("forkserver", "idle"), ("forkserver", "busy"), ("fork", "busy")])
def test_no_child_survives_a_sigkill_of_its_parent(context, state):
    import psutil

    parent = subprocess.Popen([sys.executable, "-c", PARENT, context, state], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) >= 2, pids
        time.sleep(0.5)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    assert alive == [], f"children {alive} outlived their parent"


def test_children_do_not_rerun_the_parents_main_module(tmp_path):
    """The dashboard's main module is its page script: a child that re-ran it would start a second dashboard."""
    mark = tmp_path / "runs.txt"
    script = tmp_path / "page.py"
    script.write_text(textwrap.dedent(f"""
        import os
        open({str(mark)!r}, "a").write(__name__ + "\\n")
        if __name__ == "__main__":
            from isap.workbook import isolation
            pool = isolation.Isolation("forkserver", workers=1)
            print(pool.run(os.getpid, (), isolation.Limits(60, 60, 1 << 30)))
            pool.close()
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 0  # the child ran the function
    assert mark.read_text().split() == ["__main__"]


def test_a_pool_whose_forkserver_died_is_replaced_for_the_next_file(typical):
    import psutil

    isolation.shutdown()
    try:
        isolation.warm_up(workers=1)
        forkservers = [c for c in psutil.Process().children() if "forkserver" in " ".join(c.cmdline())]
        assert forkservers
        for c in forkservers:
            for child in c.children():
                child.kill()
            c.kill()  # not reaped here: multiprocessing reaps its own forkserver
        time.sleep(1)
        report = engine.check_file(typical)
        assert report.findings == [] and report.exit_code == 0
    finally:
        isolation.shutdown()


DAEMONIC = textwrap.dedent("""
    import multiprocessing, sys
    def target(path):
        from isap.rules import engine
        report = engine.check_file(path)
        print(report.exit_code, [f.rule_id for f in report.findings], flush=True)
    if __name__ == "__main__":
        p = multiprocessing.get_context("spawn").Process(target=target, args=(sys.argv[1],), daemon=True)
        p.start()
        p.join()
""")


def test_a_daemonic_process_such_as_a_dask_worker_checks_in_a_child_too(typical, tmp_path):
    script = tmp_path / "daemonic.py"
    script.write_text(DAEMONIC)
    proc = subprocess.run([sys.executable, str(script), str(typical)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.stdout.strip() == "0 []", proc.stderr


def test_a_command_run_in_the_tests_own_process_leaves_this_process_checking_in_its_pool(typical, tmp_path):
    """`isap check` chooses a forked child for its one-shot process (`isolation.use_fork`). Run in the tests' own
    process (tests/in_process.py), that choice must end with the command: this process has threads (polars'), so
    a child forked from it would wait out its time limit on its first query, and every later check here would
    end as WB003 or a broken pool. (A file that is not there is refused before any child is needed.)"""
    from tests.in_process import isap

    isolation.shutdown()
    try:
        assert isap("check", str(tmp_path / "not-there.xlsx")).returncode != 0
        assert isinstance(isolation._pool(), isolation.Isolation)
        report = engine.check_file(typical)
        assert report.findings == [] and report.exit_code == 0
    finally:
        isolation.shutdown()


def test_a_long_temporary_folder_does_not_stop_checking(typical, tmp_path):
    """The pool's children are started through a socket in the temporary folder, and a socket's path may not be
    longer than 107 bytes: under a TMPDIR as deep as a CI workspace's, every check ended as "isap defect:
    BrokenProcessPool"."""
    deep = tmp_path / ("a-temporary-folder-as-deep-as-a-build-machine-workspace-" + "x" * 40)
    deep.mkdir()
    code = ("import sys; from isap.rules import engine; r = engine.check_file(sys.argv[1]); "
            "print(r.exit_code, [f.rule_id for f in r.findings])")
    proc = subprocess.run([sys.executable, "-c", code, str(typical)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(deep)})
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr[-2000:]
    assert not any(deep.iterdir()), "what the checks made in the temporary folder is removed at exit"


def test_a_check_command_in_a_process_with_threads_checks_in_the_pool_not_a_fork_of_it(typical, tmp_path):
    """A child forked from a process whose other threads hold locks (polars' thread pool, once a check has run in
    it) can wait for ever on its first query, and the check ends as WB003 at its time limit. `isap check` run in
    such a process (here, the tests' own, after a check in it) checks in the pool instead of forking itself."""
    from tests.in_process import isap

    assert engine.check_file_in_process(typical).exit_code == 0  # polars' threads are started in this process
    isolation.shutdown()
    try:
        r = isap("check", "--format", "json", str(typical))
        assert r.returncode == 0, r.stdout[-800:]
        assert isinstance(isolation._pool(), isolation.Isolation)
    finally:
        isolation.shutdown()
