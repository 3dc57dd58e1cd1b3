"""One contract for both kinds of checking child: the dashboard's and workers' pool (`isolation.Isolation`)
and the command line's single forked child (`isolation.ForkedChild`).

Each promise is written once and run against both, so a change to either backend is held to the same
failures under the same limits: a result comes back, a defect is an error with its traceback, an abort is a
crash, memory, processor time and wall-clock time each end the task with their own failure, every file gets
its full budget, and the next file is served by a working child after any failure.
"""

from __future__ import annotations

import os
import time

import pytest

from isap.workbook import isolation
from tests.test_isolation import _abort, _allocate, _burn, _native_huge_allocation, _sleep, _spin

pytestmark = pytest.mark.integration  # the sandbox: children, limits, kills

LIMITS = isolation.Limits(wall_seconds=5.0, cpu_seconds=2.0, memory_bytes=1 << 30)


@pytest.fixture(scope="module", params=["pool", "forked child"])
def child(request):
    """A checking child of each kind, shared by the module's tests (a failure must not spoil the next task)."""
    c = isolation.Isolation("forkserver", workers=1) if request.param == "pool" else isolation.ForkedChild()
    yield c
    c.close()


def _raise():
    raise KeyError("no_such_field")


def test_a_result_comes_back_from_another_process(child):
    assert child.run(os.getpid, (), LIMITS) not in (os.getpid(), None)


def test_an_exception_is_an_error_failure_with_its_traceback(child):
    failure = child.run(_raise, (), LIMITS)
    assert isinstance(failure, isolation.Failure) and failure.kind == "error"
    assert "KeyError" in failure.detail and "no_such_field" in failure.detail


def test_a_child_that_aborts_is_a_crash_and_the_next_file_is_served(child):
    failure = child.run(_abort, (), LIMITS)
    assert isinstance(failure, isolation.Failure) and failure.kind == "crash" and "SIGABRT" in failure.detail
    assert child.run(_allocate, (10,), LIMITS) == 10


def test_a_child_that_exceeds_its_memory_is_a_memory_failure(child):
    failure = child.run(_allocate, (2 << 30,), LIMITS)
    assert isinstance(failure, isolation.Failure) and failure.kind == "memory", failure
    assert "1,024 MiB" in failure.detail
    assert child.run(_allocate, (1 << 20,), LIMITS) == 1 << 20


def test_a_native_allocation_that_fails_and_aborts_is_a_memory_failure(child):
    failure = child.run(_native_huge_allocation, (), LIMITS)
    assert isinstance(failure, isolation.Failure) and failure.kind == "memory", failure


def test_a_child_that_loops_runs_out_of_cpu(child):
    # The wall-clock limit is far off so the kernel's CPU limit is what stops the loop, however busy the machine.
    limits = isolation.Limits(wall_seconds=120.0, cpu_seconds=1.0, memory_bytes=1 << 30)
    failure = child.run(_spin, (), limits)
    assert isinstance(failure, isolation.Failure) and failure.kind == "cpu", failure
    assert "1 second of processor time" in failure.detail
    assert child.run(_allocate, (10,), LIMITS) == 10


def test_a_child_that_waits_runs_out_of_wall_clock_time(child):
    limits = isolation.Limits(wall_seconds=1.0, cpu_seconds=30.0, memory_bytes=1 << 30)
    start = time.monotonic()
    failure = child.run(_sleep, (), limits)
    assert isinstance(failure, isolation.Failure) and failure.kind == "time", failure
    assert time.monotonic() - start < 30  # the child is stopped, not waited for (a guard, not a speed target)
    assert child.run(_allocate, (10,), LIMITS) == 10


def test_every_file_gets_the_full_cpu_budget(child):
    limits = isolation.Limits(wall_seconds=10.0, cpu_seconds=1.0, memory_bytes=1 << 30)
    for _ in range(3):  # 3 × 0.6 s of CPU in one child: more than the per-file budget in all
        assert child.run(_burn, (0.6,), limits) == "done"
