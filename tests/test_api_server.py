"""The HTTP API end to end: `isap api` serving with uvicorn, reached with curl, and stopped cleanly.

First on the embedded database, where an upload is checked in the API's own process; then in the
production shape (tests/cluster.py): a Prefect server, a deployment and an `isap worker` on a
machine of its own, where an upload through the API waits for the worker, is answered "queued" and
then found checked and kept.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from isap.orchestration.processes import die_with_parent, free_port
from sample_submissions.proposals import clean, write

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # `isap api` served and stopped from outside; a Prefect server
ROOT = Path(__file__).resolve().parents[1]
REF = "ISAP-2026-014"


def isap(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "isap.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def serve(env: dict, cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "isap.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent())
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"isap api exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/openapi.json", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"isap api did not answer:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def curl(*args: str) -> tuple[int, dict, bytes]:
    """curl as a CI job runs it: (status, headers, body)."""
    done = subprocess.run(["curl", "-sS", "-D", "-", *args], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def stop(proc: subprocess.Popen) -> None:
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while (alive := [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive == [], [" ".join(p.cmdline()) for p in alive]


@pytest.fixture
def local(tmp_path) -> dict:
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ISAP_", "PREFECT_"))}
    env.update(ISAP_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), ISAP_TEST_RUN=os.environ["ISAP_TEST_RUN"])
    isap("db", "upgrade", env=env, cwd=tmp_path)
    isap("org", "add", "QUA", "NHS Black Country ICB", env=env, cwd=tmp_path)
    isap("user", "add", "alice", "--role", "commissioner", "--org", "QUA", env=env, cwd=tmp_path)
    token = isap("token", "create", "--name", "ci", "--as", "alice", env=env, cwd=tmp_path).stdout.strip()
    isap("template", "--example", "example.xlsx", env=env, cwd=tmp_path)
    return {"env": env, "token": token, "dir": tmp_path}


def test_isap_api_serves_check_upload_and_reads_then_stops_with_nothing_left(local):
    tmp, token = local["dir"], local["token"]
    proc, base = serve(local["env"], tmp, tmp / "api.log")
    try:
        bearer = ["-H", f"Authorization: Bearer {token}"]
        status, headers, body = curl(*bearer, "-F", f"workbook=@{tmp / 'example.xlsx'}", base + "/v1/check")
        report = json.loads(body)
        assert (status, headers["isap-exit-status"]) == (200, "0")
        assert [f["rule_id"] for f in report["findings"]] == ["REL011"] and report["file"] == "example.xlsx"

        status, _, body = curl(*bearer, "-F", f"workbook=@{tmp / 'example.xlsx'}", base + "/v1/uploads")
        assert status == 201, body
        assert (json.loads(body)["reference"], json.loads(body)["version"]) == (REF, 1)
        status, _, body = curl(*bearer, base + f"/v1/proposals/{REF}")
        assert status == 200 and json.loads(body)["versions"][0]["warnings"] == 1
        status, headers, body = curl(*bearer, "-X", "POST", base + f"/v1/proposals/{REF}/submit")
        assert (status, headers["content-type"]) == (409, "application/problem+json")
        assert json.loads(body)["code"] == "refused"
        status, headers, body = curl(base + "/v1/proposals")
        assert (status, json.loads(body)["code"]) == (401, "token_missing")
        status, _, body = curl(base + "/openapi.json")
        assert json.loads(body) == json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    finally:
        if proc.poll() is None:
            stop(proc)
    assert "Traceback" not in (tmp / "api.log").read_text(errors="replace")


def test_an_upload_through_the_api_waits_for_a_worker_and_is_then_found_kept(tmp_path, postgres_server):
    from tests.cluster import can_unshare, start_worker
    from tests.cluster import cluster as running_cluster

    if not can_unshare():
        pytest.skip("needs root and unshare for mount namespaces (CI runs as root)")
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    with running_cluster(tmp_path, postgres_server) as c:
        machines = c["machines"]
        a = {**c["env"]("A"), "PYTHONPATH": str(ROOT)}
        # the API answers "queued" after half a second: a worker takes longer than that to pick a run up
        (machines["A"] / "isap-policy.toml").write_text("[policy]\nupload_wait_seconds = 0.5\n")
        for args in (("db", "upgrade"), ("org", "add", "QUA", "NHS Black Country ICB"),
                     ("user", "add", "alice", "--role", "commissioner", "--org", "QUA"), ("deploy", "--pool", "isap")):
            isap(*args, env=a, cwd=machines["A"])
        token = isap("token", "create", "--name", "ci", "--as", "alice", env=a, cwd=machines["A"]).stdout.strip()
        start_worker(c, "W1", [machines["A"], machines["W2"]])
        book = write(clean(1, reference="ISAP-2026-401"), machines["A"] / "proposal.xlsx")
        proc, base = serve(a, machines["A"], machines["A"] / "api.log")
        c["procs"].append(proc)
        bearer = ["-H", f"Authorization: Bearer {token}"]
        status, headers, body = curl(*bearer, "-F", f"workbook=@{book}", base + "/v1/uploads")
        assert status == 202, body
        queued = json.loads(body)
        assert queued["status"] == "queued" and headers["location"] == f"/v1/uploads/{queued['staged_id']}"
        deadline = time.monotonic() + 600
        while status == 202 and time.monotonic() < deadline:
            time.sleep(1)
            status, _, body = curl(*bearer, base + headers["location"])
        assert status == 200, body
        assert (json.loads(body)["reference"], json.loads(body)["version"]) == ("ISAP-2026-401", 1)
        assert "flow run" in (machines["W1"] / "worker.log").read_text(errors="replace")
        status, _, body = curl(*bearer, base + "/v1/proposals/ISAP-2026-401/versions/1/original")
        assert status == 200 and body == book.read_bytes()
        stop(proc)
