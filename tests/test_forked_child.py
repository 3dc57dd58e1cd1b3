"""The CLI's checking child (`isolation.ForkedChild`) keeps every promise the pool keeps.

`isap check` checks its files in one child forked from it rather than in a process pool (a pool's
threads cost a cold command about a third of a second).  The child must fail the same ways under
the same limits, serve the next file after a failure, and die with its parent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from isap.workbook import isolation
from sample_submissions.proposals import clean, write

pytestmark = pytest.mark.integration  # the sandbox: the CLI's checking child

ROOT = Path(__file__).resolve().parent.parent
LIMITS = isolation.Limits(wall_seconds=5.0, cpu_seconds=2.0, memory_bytes=1 << 30)


@pytest.fixture
def child():
    c = isolation.ForkedChild()
    yield c
    c.close()


@pytest.fixture(scope="module")
def typical(tmp_path_factory) -> Path:
    return write(clean(2), tmp_path_factory.mktemp("typical") / "typical.xlsx")


def test_a_result_comes_back_and_the_same_child_serves_the_next_task(child):
    first = child.run(os.getpid, (), LIMITS)
    assert first != os.getpid() and child.run(os.getpid, (), LIMITS) == first


# A fresh process, as the CLI is: polars' thread pool, once started, does not survive a fork, and
# this test process has run checks of its own (see ForkedChild).
CHECKING_PARENT = textwrap.dedent("""
    import sys
    from isap.rules import engine
    from isap.workbook import isolation
    child = isolation.ForkedChild(preload=("isap.rules.engine:prepare",))
    report = child.run(engine.check_file_in_process, (sys.argv[1],), isolation.Limits(60, 60, 1 << 31))
    child.close()
    print(type(report).__name__, report.exit_code, [f.rule_id for f in report.findings])
""")


def test_a_check_in_the_child_reports_as_in_process(typical):
    proc = subprocess.run([sys.executable, "-c", CHECKING_PARENT, str(typical)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.stdout.strip() == "CheckReport 0 []", proc.stderr


def test_a_preloaded_child_has_its_modules_before_its_first_task():
    # a module of the tests' own that nothing imports, so the suite's order cannot have loaded it here already
    # (the standard library's colorsys, used before, is loaded by Pillow once a page draws a colour)
    marker = "tests.preloaded_only_in_child"
    c = isolation.ForkedChild(preload=(marker, "isap.rules.engine:prepare"))
    try:
        c.warm()
        loaded = c.run(eval, ("sorted(__import__('sys').modules)",), LIMITS)
        assert {marker, "isap.workbook.parse", "checks.governance"} <= set(loaded)
        assert marker not in sys.modules  # imported there, not here
    finally:
        c.close()


def test_closing_ends_the_child_at_once_even_while_it_imports():
    c = isolation.ForkedChild(preload=("tests.test_forked_child:_sleep",))  # a start-up that never ends
    c.warm()
    pid = c._pid
    start = time.monotonic()
    c.close()
    assert time.monotonic() - start < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


PARENT = textwrap.dedent("""
    import os, sys, time
    from isap.workbook import isolation
    child = isolation.ForkedChild()
    child.warm()
    print(child._pid, flush=True)
    if sys.argv[1] == "busy":
        child.run(time.sleep, (600,), isolation.Limits(900, 900, 1 << 30))
    time.sleep(600)
""")


@pytest.mark.parametrize("state", ["idle", "busy"])
def test_the_child_does_not_outlive_a_sigkill_of_its_parent(state):
    import psutil

    parent = subprocess.Popen([sys.executable, "-c", PARENT, state], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        pid = int(parent.stdout.readline())
        time.sleep(0.5)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"child {pid} outlived its parent"
        time.sleep(0.1)
