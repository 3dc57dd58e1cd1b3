"""Untrusted bytes are parsed only in a child process with hard limits.

A workbook can make a native reader misbehave in ways Python cannot catch:
python-calamine asked for a 550 GB grid aborts the whole process.  So the
whole per-file check (safety scan, parse, rules) runs in a pool child whose
address space and CPU seconds are capped by the kernel (`RLIMIT_AS`,
`RLIMIT_CPU`, set in the child) and whose wall-clock time is watched by the
parent, which kills it when the budget runs out.  A child that crashes, is
killed or exhausts a limit becomes a finding for that one file (WB003 naming
the limit, or WB001); the calling process, and whoever else it serves,
carries on, and the pool replaces the child for the next file.

The pool is pebble's `ProcessPool` (per-task timeout, replacement of dead
workers, an initializer).  Long-running processes, which have threads and so
must not fork themselves, call `warm_up()` once: children then come from a
forkserver that has the check modules preloaded, so a check costs a few
milliseconds more than in-process.  The one-shot, single-threaded CLI calls
`use_fork()`: forking the CLI itself is the cheapest safe start there.

Every child asks the kernel to kill it when its parent dies
(`PR_SET_PDEATHSIG`), so no child outlives the process it serves.
"""

from __future__ import annotations

import atexit
import ctypes
import faulthandler
import io
import logging
import math
import multiprocessing
import os
import resource
import select
import shutil
import signal
import struct
import tempfile
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing import context as mp_context
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

# Imported by the forkserver before any file arrives, so a warm child pays no import cost when it
# reads one; `warm_up(preload=...)` adds what the caller's children run (the rules, say).
PRELOAD = ["isap.workbook.parse", "isap.workbook.safety"]
# Imported by each child as it starts, before its first file: polars starts threads, which a
# process that forks (the forkserver) should not have; each child forked from it loads its own.
CHILD_IMPORTS = ("isap.workbook.schemas",)
WARM_WORKERS = 2
# A child is replaced after this many files, so fragmentation or a leak in a reader cannot build up.
MAX_TASKS_PER_CHILD = 200

_PR_SET_PDEATHSIG = 1
_M_ARENA_MAX = -8
_STDERR_TAIL = 4096


@dataclass(frozen=True)
class Limits:
    """The hard limits of one isolated run (from the policy)."""

    wall_seconds: float
    cpu_seconds: float
    memory_bytes: int
    # how long the run may wait for a free child (its turn, see `FairShare`) before it is given up
    wait_seconds: float = math.inf
    # when set, the run may also take at most this much address space on top of what the child holds as it
    # starts the run (an evidence document: its reader's objects, not the check's libraries, are bounded)
    memory_growth_bytes: int | None = None

    @classmethod
    def from_policy(cls, policy) -> "Limits":
        return cls(float(policy.max_seconds_per_file), float(policy.max_cpu_seconds), int(policy.max_memory_bytes),
                   float(policy.check_wait_seconds))


@dataclass(frozen=True)
class Failure:
    """Why an isolated run returned no result.

    kind: "time" (wall clock), "cpu", "memory" (a limit ran out), "crash" (the child died or was
    killed for another reason), "error" (the function raised; `detail` holds its traceback),
    "unavailable" (no child could be started) or "busy" (no child was free for the run within its
    `wait_seconds`: it never started).
    """

    kind: str
    detail: str


# ---------------------------------------------------------------------------- in the child

def _init_child(stderr_dir: str, parent_pid: int | None, imports: tuple[str, ...] = ()) -> None:
    """Runs once in every new child, before it takes any file."""
    parent_pid = parent_pid or os.getppid()  # under forkserver: the forkserver, which ends with our parent
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pool's pipe still ends the idle child
        pass
    # The parent may have died before the death signal was armed; then nobody would kill us.
    if os.getppid() != parent_pid:
        os._exit(0)
    # A forkserver child inherits the forkserver's "clients alive" pipe, which keeps the forkserver
    # (our parent, whose death kills us) running as long as we do. Letting it go means: our parent
    # process dies → the forkserver sees the end of that pipe and exits → the kernel kills us.
    alive_fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive_fd is not None:
        try:
            os.close(alive_fd)
        except OSError:
            pass
        forkserver._forkserver._forkserver_alive_fd = None
    try:
        # Each thread's malloc arena reserves address space; two arenas keep the address-space
        # limit about memory actually used, on machines with any number of cores.
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass
    # A native reader that aborts writes its reason (e.g. "memory allocation of N bytes failed") to
    # standard error. Keep it off the user's terminal; the parent reads it to name the cause.
    fd = os.open(os.path.join(stderr_dir, f"{os.getpid()}.err"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    # A parent's fault handler (PYTHONFAULTHANDLER, or a test runner's) writes to a copy of the
    # parent's standard error that a forked child inherits: its report of the crash would reach the
    # terminal and crowd the reader's own reason out of what the parent reads.
    faulthandler.disable()
    os.environ["RUST_BACKTRACE"] = "0"
    if imports:
        _import(imports)


def _limited(fn: Callable, args: tuple, limits: Limits) -> Any:
    """Runs `fn(*args)` in the child under this run's limits.

    The soft limits are set per run (the hard ones stay open so the next run can set its own):
    CPU seconds are counted from what the child has used so far, so a warm child that has checked
    many files gets the full budget for each.
    """
    os.ftruncate(2, 0)
    os.lseek(2, 0, os.SEEK_SET)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    _, as_hard = resource.getrlimit(resource.RLIMIT_AS)
    cpu_soft = math.ceil(used + limits.cpu_seconds)
    resource.setrlimit(
        resource.RLIMIT_CPU, (cpu_soft if cpu_hard == resource.RLIM_INFINITY else min(cpu_soft, cpu_hard), cpu_hard)
    )
    mem_soft = limits.memory_bytes if as_hard == resource.RLIM_INFINITY else min(limits.memory_bytes, as_hard)
    if limits.memory_growth_bytes is not None:
        mem_soft = min(mem_soft, _address_space() + limits.memory_growth_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (mem_soft, as_hard))
    try:
        return fn(*args)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (as_hard, as_hard))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
        if limits.memory_growth_bytes is not None:
            # What the run freed goes back to the system, so the next run's allowance starts from the child's
            # own size, not from the top this one reached.
            import gc

            gc.collect()
            try:
                ctypes.CDLL(None).malloc_trim(0)
            except (OSError, AttributeError):
                pass


def _address_space() -> int:
    """This process's address space now, in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


# ---------------------------------------------------------------------------- in the parent

class _NoMainPopen(popen_forkserver.Popen):
    """A forkserver start whose child does not re-import the parent's `__main__`.

    multiprocessing re-runs the parent's main module in every forkserver child. In the dashboard
    that module is the Streamlit page script (Streamlit installs it as `__main__`), so each child
    would run the whole dashboard, Prefect server included. The children need only the check
    modules, which the forkserver preloads.
    """

    def _launch(self, process_obj):  # popen_forkserver.Popen._launch, less the main module
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        mp_context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            mp_context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _NoMainProcess(mp_context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):
        return _NoMainPopen(process_obj)


class _NoMainContext(mp_context.ForkServerContext):
    Process = _NoMainProcess


# A Unix socket's path holds at most 107 bytes. The forkserver listens on one in multiprocessing's temporary
# folder ("<TMPDIR>/pymp-XXXXXXXX/listener-XXXXXXXX", 33 bytes more than TMPDIR): under a TMPDIR as deep as a
# build machine's workspace it cannot start, and every check would fail as a defect of isap.
_SOCKET_PATH_MAX = 107
_LISTENER = len("/listener-XXXXXXXX")


def _socket_folder_short_enough() -> None:
    """Make multiprocessing's temporary folder for this process under /tmp when TMPDIR is too deep for the
    forkserver's socket (removed at exit, as multiprocessing removes its own)."""
    from multiprocessing import process, util

    config = process.current_process()._config
    folder = config.get("tempdir") or os.path.join(tempfile.gettempdir(), "pymp-XXXXXXXX")
    if len(os.fsencode(folder)) + _LISTENER <= _SOCKET_PATH_MAX or not os.path.isdir("/tmp"):
        return
    short = tempfile.mkdtemp(prefix="pymp-", dir="/tmp")
    util.Finalize(None, shutil.rmtree, args=(short, True), exitpriority=-100)
    config["tempdir"] = short


def _forkserver_context() -> _NoMainContext:
    _socket_folder_short_enough()
    ctx = _NoMainContext()
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


class Isolation:
    """A small pool of limited children; `run` never raises for what happens inside one."""

    def __init__(self, context: str = "forkserver", workers: int = 1, max_tasks: int = MAX_TASKS_PER_CHILD):
        from pebble import ProcessPool

        if context not in ("fork", "forkserver"):
            raise ValueError(f"children start by fork or forkserver, not {context!r}")
        me = multiprocessing.current_process()
        if me.daemon:
            # A Dask worker is a daemonic process, which multiprocessing forbids to have children lest
            # they outlive it. Ours cannot: each dies with its parent (see _init_child).
            me._config["daemon"] = False
        ctx = _forkserver_context() if context == "forkserver" else multiprocessing.get_context("fork")
        self.context = context
        self.workers = workers
        self._stderr_dir = tempfile.mkdtemp(prefix="isap-check-")
        # Under fork the child's parent is this process; under forkserver it is the forkserver.
        parent = os.getpid() if context == "fork" else None
        self._pool = ProcessPool(max_workers=workers, max_tasks=max_tasks, initializer=_init_child,
                                 initargs=(self._stderr_dir, parent, CHILD_IMPORTS), context=ctx)

    def run(self, fn: Callable, args: tuple, limits: Limits) -> Any | Failure:
        """`fn(*args)` in a child under `limits`: its result, or a `Failure` saying why there is none.

        `fn` and its arguments and result must be picklable (plain data)."""
        from pebble import ProcessExpired

        try:
            future = self._pool.schedule(_limited, args=(fn, args, limits), timeout=limits.wall_seconds)
        except Exception as exc:  # noqa: BLE001 - a pool that cannot start children (its forkserver died, say)
            return Failure("unavailable", f"{type(exc).__name__}: {exc}")
        try:
            return future.result()
        except FutureTimeout:
            return Failure("time", f"it took longer than the {_seconds(limits.wall_seconds)} allowed")
        except ProcessExpired as exc:
            return self._expired(exc, limits)
        except MemoryError:
            return Failure("memory", _memory_words(limits))
        except Exception as exc:  # noqa: BLE001 - whatever the child raised is reported, not re-raised
            tb = getattr(getattr(exc, "__cause__", None), "traceback", None) or repr(exc)
            return Failure("error", str(tb))

    def _expired(self, exc, limits: Limits) -> Failure:
        code = exc.exitcode if isinstance(exc.exitcode, int) else 0
        return _ended(exc.pid, code, _stderr_tail(self._stderr_dir, exc.pid), limits)

    def warm(self) -> None:
        """Start the children now (and the forkserver with its preloads) rather than at the first file."""
        futures = [self._pool.schedule(os.getpid) for _ in range(self.workers)]
        for f in futures:
            try:
                f.result(timeout=120)
            except Exception:  # noqa: BLE001 - a child that cannot start shows up at the first real file
                log.warning("an isolated check child did not start", exc_info=True)

    def close(self) -> None:
        try:
            self._pool.stop()
            self._pool.join(timeout=10)
        except Exception:  # noqa: BLE001 - closing at exit must not fail the exit
            log.debug("closing the isolation pool", exc_info=True)
        shutil.rmtree(self._stderr_dir, ignore_errors=True)

    @property
    def alive(self) -> bool:
        try:
            return self._pool.active
        except Exception:  # noqa: BLE001 - a pool that cannot even start is not alive
            return False


class ForkedChild:
    """One limited child forked from this process, which checks every file the process asks for.

    For the one-shot, single-threaded CLI: the same limits and the same failures as `Isolation`,
    without a pool's machinery.  The child is a plain fork that reads tasks from a pipe and writes
    each result back; the parent waits on the pipe for at most the task's wall-clock budget and
    kills the child when it runs out.  A child that dies is replaced at the next file.  Starting
    one costs a fork, and stopping it a kill (a pool's threads and result loops cost about 0.3 s of
    a cold `isap check`, docs/performance.md).

    Only for a process that has not run a check itself: polars' thread pool, once started, is not
    there in a forked child, whose first polars query would then wait for ever (the wall-clock
    limit would end it).  The CLI never checks in its own process.
    """

    def __init__(self, preload: tuple[str, ...] = ()):
        self._preload = preload
        self._stderr_dir = tempfile.mkdtemp(prefix="isap-check-")
        self._pid: int | None = None
        self._tasks = -1
        self._results = -1
        self._lock = threading.Lock()
        self._closed = False

    @property
    def alive(self) -> bool:
        return not self._closed

    def warm(self) -> None:
        with self._lock:
            if self._pid is None:
                self._start()

    def _start(self) -> None:
        parent = os.getpid()
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: serve until the parent closes the task pipe, then leave at once
            code = 0
            try:
                os.close(task_w)
                os.close(result_r)
                _init_child(self._stderr_dir, parent)
                _import(self._preload)
                _serve(task_r, result_w)
            except BaseException:  # noqa: BLE001 - nothing a child does may run the parent's code on exit
                code = 1
            finally:
                os._exit(code)
        os.close(task_r)
        os.close(result_w)
        self._pid, self._tasks, self._results = pid, task_w, result_r

    def run(self, fn: Callable, args: tuple, limits: Limits) -> Any | Failure:
        """`fn(*args)` in the child under `limits`: its result, or a `Failure` saying why there is none."""
        import pickle

        with self._lock:
            try:
                task = pickle.dumps((fn, args, limits), protocol=pickle.HIGHEST_PROTOCOL)
                if self._pid is None:
                    self._start()
                _send(self._tasks, task)
            except BrokenPipeError:  # the child died between files: what it left says why
                return self._gone(limits)
            except Exception as exc:  # noqa: BLE001 - no child could be started or reached
                self._stop()
                return Failure("unavailable", f"{type(exc).__name__}: {exc}")
            try:
                data = _receive(self._results, time.monotonic() + limits.wall_seconds)
            except TimeoutError:
                self._stop()
                return Failure("time", f"it took longer than the {_seconds(limits.wall_seconds)} allowed")
            if data is None:
                return self._gone(limits)
        try:
            status, value = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - a result that cannot be read is the child's failure
            return Failure("error", f"{type(exc).__name__}: {exc}")
        if status == "ok":
            return value
        if status == "memory":
            return Failure("memory", _memory_words(limits))
        return Failure("error", value)

    def _gone(self, limits: Limits) -> Failure:
        pid = self._pid
        code = self._stop()
        return _ended(pid, code, _stderr_tail(self._stderr_dir, pid), limits)

    def _stop(self) -> int:
        """End the child and return its exit status.  No task is under way when this runs (or the
        one under way is given up), so the child has nothing to finish: it is killed outright."""
        pid, self._pid = self._pid, None
        for fd in (self._tasks, self._results):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._tasks = self._results = -1
        if pid is None:
            return 0
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            return 0
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()
        shutil.rmtree(self._stderr_dir, ignore_errors=True)


_LENGTH = struct.Struct("!Q")


def _send(fd: int, data: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _receive(fd: int, deadline: float = math.inf) -> bytes | None:
    """One message from `fd`; None when the writer has gone. TimeoutError past `deadline`."""
    head = _read(fd, _LENGTH.size, deadline)
    if head is None:
        return None
    return _read(fd, _LENGTH.unpack(head)[0], deadline)


def _read(fd: int, n: int, deadline: float) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        if deadline != math.inf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - len(chunks), 1 << 20))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _import(names: tuple[str, ...]) -> None:
    """Import `module` (or import `module` and call its `function`, for `module:function`) for each
    name.  A failure is left for the task that needs the module to meet and report.  What the
    imports made lives as long as the child: it is moved out of the garbage collector's sight."""
    import gc
    import importlib

    for name in names:
        module, _, function = name.partition(":")
        try:
            loaded = importlib.import_module(module)
            if function:
                getattr(loaded, function)()
        except Exception:  # noqa: BLE001 - see above
            log.debug("preloading %s", name, exc_info=True)
    gc.freeze()
    gc.enable()  # (a parent may pause it for its own start-up; the child's tasks run with it on)


def _serve(tasks: int, results: int) -> None:
    """The forked child's loop: run each task under its limits and send back what came of it."""
    import pickle
    import traceback

    while True:
        task = _receive(tasks)
        if task is None:
            return
        try:
            fn, args, limits = pickle.loads(task)
            outcome = ("ok", _limited(fn, args, limits))
        except MemoryError:
            outcome = ("memory", "")
        except BaseException:  # noqa: BLE001 - whatever the function raised is reported, not re-raised
            outcome = ("error", traceback.format_exc())
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data = pickle.dumps(("memory", ""))
        except Exception:  # noqa: BLE001 - a result that cannot be sent is reported as such
            data = pickle.dumps(("error", traceback.format_exc()))
        _send(results, data)


def _ended(pid: int | None, code: int, tail: str, limits: Limits) -> Failure:
    """Why a child that ended without a result did: its exit status and the end of its standard error."""
    if tail:
        log.info("isolated check child %s ended with status %s: %s", pid, code, tail)
    if code == -signal.SIGXCPU:
        return Failure("cpu", f"it used more than the {_seconds(limits.cpu_seconds)} of processor time allowed")
    if "memory allocation of" in tail or "MemoryError" in tail or "out of memory" in tail.lower():
        return Failure("memory", _memory_words(limits))
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Failure("crash", f"the reader stopped abruptly ({name})")
    return Failure("crash", f"the reader stopped abruptly (exit status {code})")


def _stderr_tail(stderr_dir: str, pid: int | None) -> str:
    if pid is None:
        return ""
    path = Path(stderr_dir) / f"{pid}.err"
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - _STDERR_TAIL))
            text = fh.read().decode("utf-8", "replace").strip()
        path.unlink(missing_ok=True)
        return text
    except OSError:
        return ""


def _seconds(s: float) -> str:
    return f"{s:g} second{'s' if s != 1 else ''}"


def _memory_words(limits: Limits) -> str:
    if limits.memory_growth_bytes is not None:
        return (f"it needed more than the {_mib(limits.memory_growth_bytes)} of memory allowed on top of what "
                "the checker holds")
    return f"it needed more than the {_mib(limits.memory_bytes)} of memory allowed"


def _mib(n: int) -> str:
    return f"{n / 1048576:,.0f} MiB"


# ---------------------------------------------------------------------------- fair shares of the pool

# Who submitted a file: a user name, or (organisation code, user name) where the organisation is known.
Owner = str | tuple[str, str]


def party_of(owner: Owner) -> str:
    """Who takes turns for the children: the owner's organisation where known, else the owner."""
    return owner[0] if isinstance(owner, tuple) else owner


class FairShare:
    """Hands the pool's children to the runs waiting for one, owner by owner.

    An owner is whoever submitted the file: the signed-in user who uploaded it, as a user name or,
    where the user's organisation is known, as (organisation, user name).  Owners of one organisation
    share its share: the party that takes turns is the organisation, and within it its users take
    turns.  A free child goes to the waiting party that holds the fewest children, and among those to
    the one served least recently: round robin, so one party's many files take turns with everyone
    else's instead of queueing ahead of them.  With more than one child, no party holds them all: one
    is always left for someone else, so another party's file starts at once however slow the first
    one's files are (checks are never interrupted, so this is the only way to bound that wait;
    docs/decisions/0002-file-safety.md).

    Several parties can still hold every child between them.  Then a run of a party holding none is
    given one of `reserve` children beyond the pool's (docs/decisions/0058-a-reserve-checking-child.md),
    so someone with nothing under way is served at once rather than behind the slowest file others
    sent.  With a reserve, a child of the pool never stands idle while someone holding nothing waits:
    they take it even when their party holds its share (a colleague's slow file), since the reserve
    is still free for any other party.  A run that waits longer than its limit is given up, never started.
    """

    def __init__(self, slots: int, reserve: int = 0):
        self.slots = max(1, slots)
        self.reserve = max(0, reserve)
        self.per_owner = max(1, self.slots - 1)  # children one party may hold (reserve aside)
        self._cond = threading.Condition()
        self._held: dict[Owner, int] = {}
        self._waiting: list[tuple[Owner, int]] = []  # (owner, ticket) in arrival order
        self._granted: set[int] = set()
        self._served: dict[Owner, int] = {}  # owner → when last served (a counter)
        self._party_served: dict[str, int] = {}  # party → when last served
        self._clock = 0
        self._next = 0

    def acquire(self, owner: Owner, wait_seconds: float = math.inf) -> bool:
        """Wait for a child for `owner`: True once one is theirs, False when `wait_seconds` pass first."""
        deadline = time.monotonic() + wait_seconds
        with self._cond:
            ticket = self._next
            self._next += 1
            self._waiting.append((owner, ticket))
            self._dispatch()
            while ticket not in self._granted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._waiting.remove((owner, ticket))
                    self._dispatch()
                    return False
                self._cond.wait(None if remaining == math.inf else remaining)
            self._granted.discard(ticket)
            return True

    def release(self, owner: Owner) -> None:
        with self._cond:
            self._held[owner] -= 1
            if not self._held[owner]:
                del self._held[owner]
            self._dispatch()

    def ahead_of(self, owner: Owner) -> tuple[int, int]:
        """(runs under way, runs waiting that go before a new run of `owner`): what a person is told."""
        with self._cond:
            party = party_of(owner)
            mine = self._party_holds(party)
            before = sum(1 for o, _ in self._waiting
                         if party_of(o) != party and self._party_holds(party_of(o)) <= mine) + \
                sum(1 for o, _ in self._waiting if party_of(o) == party)
            return sum(self._held.values()), before

    def _party_holds(self, party: str) -> int:
        return sum(n for o, n in self._held.items() if party_of(o) == party)

    def _dispatch(self) -> None:
        while True:
            held = sum(self._held.values())
            if held < self.slots:
                # (runs with no owner come from this process itself, a command checking local files: uncapped)
                eligible = [(o, t) for o, t in self._waiting
                            if not o or self._party_holds(party_of(o)) < self.per_owner]
                if not eligible and self.reserve:
                    # A child would stand idle: someone holding nothing takes it although their party holds its
                    # share (a colleague's slow file), since the reserve stays free for any other party.
                    eligible = [(o, t) for o, t in self._waiting if not self._held.get(o, 0)]
            elif held < self.slots + self.reserve:  # every child is held: the reserve, for a party holding none
                eligible = [(o, t) for o, t in self._waiting if not self._party_holds(party_of(o))]
            else:
                return
            if not eligible:
                return
            parties = {party_of(o) for o, _ in eligible}
            party = min(parties, key=lambda p: (self._party_holds(p), self._party_served.get(p, -1)))
            owners = {o for o, _ in eligible if party_of(o) == party}
            owner = min(owners, key=lambda o: (self._held.get(o, 0), self._served.get(o, -1)))
            ticket = next(t for o, t in eligible if o == owner)  # each owner's own files in arrival order
            self._waiting.remove((owner, ticket))
            self._held[owner] = self._held.get(owner, 0) + 1
            self._clock += 1
            self._party_served[party] = self._served[owner] = self._clock
            self._granted.add(ticket)
            self._cond.notify_all()


# ---------------------------------------------------------------------------- the process's pool

_POOL: Isolation | ForkedChild | None = None
_SHARES: FairShare | None = None
_POOL_LOCK = threading.Lock()
_CONTEXT = "forkserver"
_WORKERS = 1
_RESERVE = 0  # children beyond `_WORKERS`, for a party holding none while every child is held (see `FairShare`)


def use_fork(preload: tuple[str, ...] = ()) -> None:
    """For a one-shot, single-threaded process (the CLI): one child forked from it (`ForkedChild`),
    started in a millisecond, checks its files. Call before the first check.

    With `preload` (module names, or `module:function` to call one too), the child is forked now
    and imports them at once, while this process goes on with its own start-up: a command that
    will check files calls this first thing, so the check's imports cost it no time of its own
    when another core is free."""
    global _CONTEXT, _POOL
    if _threads() > 1:
        # A fork copies only the calling thread; a lock another thread held (polars' thread pool, once a
        # check has run here) stays held in the child, whose first query then waits out its time limit.
        return
    _CONTEXT = "fork"
    if preload:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ForkedChild(preload)
                _POOL.warm()


def _threads() -> int:
    """How many threads this process has: the operating system's count, which includes native ones (polars')
    that `threading` does not know of."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux
        return threading.active_count()


_WARMED = False


def warm_up(workers: int = WARM_WORKERS, background: bool = False, preload: tuple[str, ...] = (),
            reserve: int = 0) -> None:
    """For a long-running process (dashboard, worker): start a warm pool of children now, once.

    Cheap to call again (on every page run, say). With `background`, the children start on a
    thread so the caller (a page being drawn) need not wait for them.  `preload` names modules the
    children will need, imported once by the forkserver.  `reserve` (the policy's
    `check_reserve_children`) more children start beside them, for someone with nothing under way
    while others hold every one of the `workers` (see `FairShare`)."""
    global _WORKERS, _RESERVE, _WARMED
    with _POOL_LOCK:
        if _WARMED:
            return
        _WARMED = True
        PRELOAD.extend(m for m in preload if m not in PRELOAD)
        _WORKERS = max(_WORKERS, workers)
        _RESERVE = max(_RESERVE, reserve)
    if background:
        threading.Thread(target=lambda: _pool().warm(), name="isap-isolation-warm-up", daemon=True).start()
    else:
        _pool().warm()


def _pool() -> Isolation | ForkedChild:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or not _POOL.alive:
            if _POOL is not None:
                _POOL.close()
            _POOL = ForkedChild() if _CONTEXT == "fork" else Isolation(_CONTEXT, _WORKERS + _RESERVE)
        return _POOL


def shutdown() -> None:
    """Stop the process's pool (also done at exit)."""
    global _POOL, _WARMED
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.close()
            _POOL = None
        _WARMED = False


atexit.register(shutdown)
# A multiprocessing child (a Dask worker, say) does not run atexit handlers: it runs these
# finalizers, and then joins its own children, which would wait for ours forever.
util.Finalize(None, shutdown, exitpriority=100)


def _shares() -> FairShare:
    global _SHARES
    with _POOL_LOCK:
        slots, reserve = (1, 0) if _CONTEXT == "fork" else (_WORKERS, _RESERVE)
        if _SHARES is None or (_SHARES.slots, _SHARES.reserve) != (max(1, slots), reserve):
            _SHARES = FairShare(slots, reserve)
        return _SHARES


def queue_for(owner: Owner) -> tuple[int, int]:
    """(checks under way, checks that go before a new one of `owner`) in this process's pool."""
    return _shares().ahead_of(owner)


def run(fn: Callable, args: tuple, limits: Limits, owner: Owner = "") -> Any | Failure:
    """Run `fn(*args)` in one of this process's limited children (see `Isolation.run`), when
    `owner`'s turn comes (see `FairShare`); a `Failure` of kind "busy" if it does not come within
    `limits.wait_seconds`.

    A pool that can no longer start children is replaced once, so one broken pool does not
    fail every later file."""
    shares = _shares()
    if not shares.acquire(owner, limits.wait_seconds):
        return Failure("busy", f"no checker was free within the {_seconds(limits.wait_seconds)} a check may wait")
    try:
        return _run(fn, args, limits)
    finally:
        shares.release(owner)


def _run(fn: Callable, args: tuple, limits: Limits) -> Any | Failure:
    result: Any = None
    for _ in range(2):
        pool = _pool()
        result = pool.run(fn, args, limits)
        if not (isinstance(result, Failure) and result.kind in ("unavailable", "error") and not pool.alive):
            return result
        log.warning("replacing the isolated check pool: %s", result.detail.splitlines()[-1] if result.detail else "")
        shutdown()
    return result
