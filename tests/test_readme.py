"""The README works as written: every command in it is run, in order, on a fresh copy of the repository.

The README's shell examples are Markdown's indented (four-space) code blocks;
it has no fenced blocks, so none can escape this test.  Each block is run by
bash, starting at the root of a copy of the repository (the tracked and
not-ignored files, as a clone would have them), with an environment that has
none of isap's or Prefect's settings, as a new user's shell would.  Every
command must exit 0, unless its comment says "exits N".  Afterwards nothing
may be left in the copy that git would see: the examples keep their files in
scratch folders (`mktemp -d`, which here lands in the test's temporary
directory).

Two commands run for as long as they are allowed to, and are handled:

- `bash ./scripts/run.sh` starts the dashboard: it is started exactly as
  written (on a free port through the script's PORT variable, as 8501 may be
  taken), left until the dashboard answers `/_stcore/health` and the HTTP API beside it answers
  (API_PORT), stopped with
  Ctrl-C's signal, and then none of its processes may be running.
- `bash ./scripts/test.sh` runs the whole suite, this test included: it is run
  with one small test file through the script's pass-through arguments
  (`bash ./scripts/test.sh -q tests/test_template.py`), which proves the set-up
  and the test runner work without the suite running itself again.
- `bash ./scripts/test.sh --fast` runs the fast tier: it is run likewise on one
  file whose PostgreSQL tests it must leave out (`tests/test_working_days.py`),
  which proves the tier is chosen without running the fast tier inside itself.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_COMMAND = "bash ./scripts/run.sh"
TEST_COMMAND = "bash ./scripts/test.sh"
TEST_ARGUMENTS = ["-q", "tests/test_template.py"]
FAST_COMMAND = "bash ./scripts/test.sh --fast"
FAST_ARGUMENTS = ["-v", "tests/test_working_days.py"]
EXPECTED_STATUS = re.compile(r"#.*\bexits (\d+)\b")


def shell_blocks(text: str) -> list[list[str]]:
    """The indented code blocks, each as its commands (continuation lines joined, comment-only lines dropped)."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    previous_blank = True
    for line in text.splitlines():
        if line.startswith("    ") and (current is not None or previous_blank):
            if current is None:
                current = []
                blocks.append(current)
            current.append(line[4:])
        elif not line.strip() and current is not None:
            current.append("")
        else:
            current = None
        previous_blank = not line.strip()
    commands = []
    for block in blocks:
        joined: list[str] = []
        pending = ""
        for line in block:
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            joined.append(pending + line.rstrip())
            pending = ""
        assert not pending, f"a README command ends with a continuation: {pending!r}"
        commands.append(joined)
    return commands


BLOCKS = shell_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_only_indented_shell_blocks():
    """One form for the examples, so every one of them is run below."""
    assert "```" not in README.read_text(encoding="utf-8")
    assert [RUN_COMMAND] in BLOCKS and [TEST_COMMAND] in BLOCKS and [FAST_COMMAND] in BLOCKS and len(BLOCKS) >= 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The repository as a fresh clone has it (the working tree's tracked and new files), under git."""
    dest = tmp_path_factory.mktemp("readme") / "isap"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@isap.example"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "as cloned"], cwd=dest, check=True)
    return dest


@pytest.fixture
def newcomer_env(tmp_path) -> dict:
    """A shell with none of isap's or Prefect's settings; scratch folders go under this test's tmp_path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ISAP_", "PREFECT_", "VIRTUAL_ENV", "PYTEST_")) or k == "ISAP_TEST_RUN"}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    return env


def leftovers(clone: Path) -> list[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


def script_for(commands: list[str], clone: Path) -> str:
    """One bash script that runs the commands in order and stops at the first unexpected exit status."""
    lines = [f"cd {shlex.quote(str(clone))}"]
    for command in commands:
        found = EXPECTED_STATUS.search(command)
        expected = int(found.group(1)) if found else 0
        lines += [
            command,
            f"__status=$?; if [ $__status -ne {expected} ]; then echo "
            f"{shlex.quote('README command exited ')}$__status{shlex.quote(f' (expected {expected}): ' + command)}"
            " >&2; exit 100; fi",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("commands", [b for b in BLOCKS if b not in ([RUN_COMMAND], [TEST_COMMAND], [FAST_COMMAND])],
                         ids=lambda b: b[0][:40] if b else "empty")
def test_readme_block_runs_as_written(clone, newcomer_env, commands, tmp_path):
    if not (clone / ".venv" / "bin" / "isap").exists():
        subprocess.run(["bash", "./scripts/setup.sh"], cwd=clone, env=newcomer_env, check=True, timeout=900)
    script = tmp_path / "block.sh"
    script.write_text(script_for(commands, clone), encoding="utf-8")
    r = subprocess.run(["bash", str(script)], cwd=clone, env=newcomer_env, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, f"{r.stderr[-4000:]}\n--- stdout ---\n{r.stdout[-3000:]}"
    assert leftovers(clone) == []


def test_readme_test_command(clone, newcomer_env):
    """`bash ./scripts/test.sh` as written, given one small test file so the suite does not run itself again."""
    r = subprocess.run(["bash", "-c", f"{TEST_COMMAND} {shlex.join(TEST_ARGUMENTS)}"], cwd=clone, env=newcomer_env,
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-3000:]}"
    assert re.search(r"\b\d+ passed\b", r.stdout), r.stdout[-2000:]
    assert leftovers(clone) == []


def test_readme_fast_command(clone, newcomer_env):
    """`bash ./scripts/test.sh --fast` as written, on one file: its SQLite tests run, its PostgreSQL ones do not."""
    r = subprocess.run(["bash", "-c", f"{FAST_COMMAND} {shlex.join(FAST_ARGUMENTS)}"], cwd=clone, env=newcomer_env,
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-3000:]}"
    assert re.search(r"\[sqlite\] PASSED", r.stdout) and re.search(r"\b\d+ deselected\b", r.stdout), r.stdout[-2000:]
    assert "[postgresql]" not in r.stdout, r.stdout[-2000:]
    assert leftovers(clone) == []


def test_readme_run_command_starts_the_dashboard_and_stops_cleanly(clone, newcomer_env, tmp_path):
    port, api_port = free_port(), free_port()
    log = tmp_path / "run.log"
    proc = subprocess.Popen(["bash", "-c", RUN_COMMAND], cwd=clone,
                            env={**newcomer_env, "PORT": str(port), "API_PORT": str(api_port)},
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900  # the first run creates .venv
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{RUN_COMMAND} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        assert "alice" in log.read_text()  # the demo accounts the README names were loaded
        # the HTTP API beside it: it answers, and refuses a request without a token as a problem document
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/proposals", timeout=2)
            except urllib.error.HTTPError as exc:
                assert exc.code == 401 and exc.headers["Content-Type"] == "application/problem+json"
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the API did not answer:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
        deadline = time.monotonic() + 15
        while (alive := [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]) \
                and time.monotonic() < deadline:
            time.sleep(0.3)
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
        for stopped in (port, api_port):
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", stopped)) != 0, f"port {stopped} still answers after Ctrl-C"
    finally:
        if proc.poll() is None:
            for p in reversed([psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]):
                p.kill()
            proc.wait()
    assert leftovers(clone) == []
