"""The production shape on one host, honestly: machines that share nothing but the network.

PostgreSQL for isap and for Prefect's own server; a Prefect server that requires
its auth string; two `isap worker`s, each in a mount namespace of its own
(`unshare -m`) with an empty tmpfs over machine A's folders and the other
worker's, with its own data directory, HOME and PREFECT_HOME.  Machine A (this
test) runs `isap ingest` over a folder only it can see: the files cross to the
workers through the store, never as paths.  One worker machine dies (every
process in its namespace is SIGKILLed) mid-batch; the batch still completes,
every original downloads on machine A with the right SHA-256, and the audit
chain verifies.  A run created by hand, without the auth string or with forged
parameters, can neither act as anyone nor make a worker read a file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isap.orchestration.processes import die_with_parent
from sample_submissions.proposals import clean, write
from tests.cluster import can_unshare, http, isap, kill_machine, mount_namespace, start_worker
from tests.cluster import cluster as running_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FILES = 20  # enough that one machine dies with most of the batch still to do (it dies after the sixth)


@pytest.fixture
def cluster(tmp_path, postgres_server):
    if not can_unshare():
        pytest.skip("needs root and unshare for mount namespaces (CI runs as root)")
    with running_cluster(tmp_path, postgres_server) as c:
        yield c


def test_a_batch_from_one_machine_is_shared_by_two_workers_that_see_none_of_its_files(cluster):
    machines, env_of = cluster["machines"], cluster["env"]
    a = env_of("A")
    assert isap("db", "upgrade", env=a, cwd=machines["A"]).returncode == 0
    for args in (("org", "add", "QUA", "NHS Black Country ICB"),
                 ("user", "add", "alice", "--role", "commissioner", "--org", "QUA")):
        done = isap(*args, env=a, cwd=machines["A"])
        assert done.returncode == 0, done.stderr

    # The server refuses whoever lacks its auth string, whatever they ask.
    status, _ = http(cluster["api"] + "/deployments/filter", {})
    assert status == 401
    status, _ = http(cluster["api"] + "/deployments/filter", {}, auth=cluster["auth"])
    assert status == 200

    deployed = isap("deploy", "--pool", "isap", env=a, cwd=machines["A"] / "home")  # no checkout needed
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # A run renews its lease every third of the policy's run_lease_seconds: the runs of the machine that dies are
    # taken up again 10 s after its last sign of life instead of the default 30 (the same path, sooner).
    for name in ("W1", "W2"):
        (machines[name] / "isap-policy.toml").write_text("[policy]\nrun_lease_seconds = 10\n")
    workers = {name: start_worker(cluster, name, [machines["A"], machines[other]])
               for name, other in (("W1", "W2"), ("W2", "W1"))}

    # The files exist only on machine A; a few are later versions of one proposal, kept in name order.
    inbox = machines["A"] / "inbox"
    inbox.mkdir()
    expected: dict[str, str] = {}
    for i in range(FILES):
        if i < 4:
            proposal = clean(1, reference="ISAP-2026-200")
            proposal["Cover"]["proposal_title"] = f"Revision {i}"
        else:
            proposal = clean(1, reference=f"ISAP-2026-{300 + i}")
        path = write(proposal, inbox / f"f{i:02d}.xlsx")
        expected[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()

    ingest = subprocess.Popen([sys.executable, "-m", "isap.cli", "ingest", str(inbox), "--as", "alice", "-f", "json"],
                              env=a, cwd=machines["A"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True, preexec_fn=die_with_parent())
    cluster["procs"].append(ingest)

    # Machine W2 dies outright once the batch is under way on both machines.
    from sqlalchemy import create_engine, text

    engine = create_engine(cluster["isap_url"])

    def finished() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM staged_upload WHERE state IN ('done', 'failed')")).scalar()

    namespace = mount_namespace(workers["W2"].pid)
    deadline = time.monotonic() + 300
    while finished() < 6 and time.monotonic() < deadline and ingest.poll() is None:
        time.sleep(0.5)
    took_runs = (machines["W2"] / "worker.log").read_text(errors="replace")
    assert "ubmitting flow run" in took_runs or "ubmitted flow run" in took_runs, took_runs[-2000:]
    assert kill_machine(namespace) >= 1

    try:
        out, err = ingest.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        with engine.connect() as conn:
            staged = conn.execute(text("SELECT run_key, state, count(*) FROM staged_upload "
                                       "GROUP BY run_key, state ORDER BY run_key")).all()
        for name in ("W1", "W2"):  # in the captured output; the message itself stays short enough to be read
            log = (machines[name] / "worker.log").read_text(errors="replace")
            print(f"--- {name}'s worker log ---\n{log[-6000:]}", file=sys.stderr)
        pytest.fail(f"the batch did not finish in 15 minutes: staged uploads by run and state {staged}")
    assert ingest.returncode == 0, out[-3000:] + err[-3000:]
    rows = json.loads(out)
    assert [r["file"] for r in rows] == sorted(expected)
    assert not [r for r in rows if r["outcome"].startswith(("failed", "refused"))], rows
    assert [r["version"] for r in rows[:4]] == [1, 2, 3, 4]  # one proposal's files kept in name order

    # Both machines took runs of the batch (machine W1's log names runs too).
    assert "flow run" in (machines["W1"] / "worker.log").read_text(errors="replace")

    # Every original downloads on machine A, byte for byte.
    for row in rows[3:6]:
        out_file = machines["A"] / f"download-{row['file']}"
        got = isap("download", row["reference"], "--version", str(row["version"]), "--out", str(out_file),
                   "--as", "alice", env=a, cwd=machines["A"])
        assert got.returncode == 0, got.stderr
        assert hashlib.sha256(out_file.read_bytes()).hexdigest() == expected[row["file"]]
    with engine.connect() as conn:
        kept = {r[0] for r in conn.execute(text("SELECT sha256 FROM original"))}
        versions = conn.execute(text("SELECT count(*) FROM submissionversion")).scalar()
    assert set(expected.values()) <= kept and versions == FILES
    verified = isap("audit", "verify", env=a, cwd=machines["A"])
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A run created by hand with forged parameters: no identity, no path is taken from it.
    status, body = http(cluster["api"] + "/deployments/filter",
                        {"deployments": {"name": {"any_": ["assure-submission"]}}}, auth=cluster["auth"])
    [deployment] = json.loads(body)
    forged = {"actor": "alice", "filename": "x.xlsx", "path": "/etc/passwd"}
    status, _ = http(cluster["api"] + f"/deployments/{deployment['id']}/create_flow_run", {"parameters": forged})
    assert status == 401  # without the auth string: refused outright
    status, _ = http(cluster["api"] + f"/deployments/{deployment['id']}/create_flow_run", {"parameters": forged},
                     auth=cluster["auth"])
    assert status >= 400  # with it, parameters the flow does not take are refused by its schema
    status, body = http(cluster["api"] + f"/deployments/{deployment['id']}/create_flow_run",
                        {"parameters": {"staging": "/etc/passwd"}}, auth=cluster["auth"])
    assert status in (200, 201), body
    run_id = json.loads(body)["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status, body = http(cluster["api"] + "/flow_runs/filter",
                            {"flow_runs": {"id": {"any_": [run_id]}}}, auth=cluster["auth"])
        state = json.loads(body)[0]["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED"):
            break
        time.sleep(1)
    assert state == "COMPLETED"
    passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM submissionversion")).scalar() == FILES
        assert conn.execute(text("SELECT count(*) FROM original WHERE sha256 = :s"), {"s": passwd}).scalar() == 0
    # Prefect's records of every run hold the run key alone: no user names, no file names.
    status, body = http(cluster["api"] + "/flow_runs/filter", {"limit": 200}, auth=cluster["auth"])
    for run in json.loads(body):
        assert set(run["parameters"]) <= {"staging", "limit", "today", "grace_seconds"}, run["parameters"]
        assert "alice" not in json.dumps(run["parameters"]) and ".xlsx" not in json.dumps(run["parameters"])

    # With no worker free, a dashboard upload is queued after the policy's wait, and its findings land later.
    from tests.cluster import stop

    stop(workers["W1"])
    (machines["A"] / "isap-policy.toml").write_text("[policy]\nupload_wait_seconds = 3\n")
    book = write(clean(1, reference="ISAP-2026-400"), machines["A"] / "dashboard.xlsx")
    queued = subprocess.run([sys.executable, "-c", DASHBOARD_UPLOAD, str(book)], env=a, cwd=machines["A"],
                            capture_output=True, text=True, timeout=300)
    assert queued.returncode == 0, queued.stderr[-3000:]
    first = json.loads(queued.stdout.strip().splitlines()[-1])
    assert first == {"queued": True, "staged_id": first["staged_id"]}
    start_worker(cluster, "W1", [machines["A"], machines["W2"]])
    landed = subprocess.run([sys.executable, "-c", DASHBOARD_RESULT, first["staged_id"]], env=a, cwd=machines["A"],
                            capture_output=True, text=True, timeout=600)
    assert landed.returncode == 0, landed.stderr[-3000:]
    assert json.loads(landed.stdout.strip().splitlines()[-1]) == {"reference": "ISAP-2026-400", "version": 1,
                                                                 "errors": 0}
    engine.dispose()


# what the upload page does, in a process of machine A configured as the dashboard is
DASHBOARD_UPLOAD = """
import json, sys
from isap.composition import service
from isap.orchestration.dispatch import assure_dashboard_upload
upload = assure_dashboard_upload(service(), "alice", "dashboard.xlsx", open(sys.argv[1], "rb").read())
print(json.dumps({"queued": upload.queued, "staged_id": upload.staged_id}))
"""
DASHBOARD_RESULT = """
import json, sys, time
from isap.composition import service
from isap.orchestration.dispatch import dashboard_upload_result
deadline = time.monotonic() + 300
while (result := dashboard_upload_result(service(), "alice", sys.argv[1])) is None and time.monotonic() < deadline:
    time.sleep(1)
print(json.dumps({"reference": result.reference, "version": result.version, "errors": result.errors}))
"""
