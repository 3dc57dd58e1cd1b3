"""Uploads as an attacker would send them: each file's bytes kept once, and a per-organisation quota of the
uploads that are refused or cannot name their proposal, on every path (service, pipeline, flow, command line)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from isap.policy import Policy


def junk(n: int, seed: int = 0) -> bytes:
    """Bytes that are not a workbook: refused (WB001) and kept as an unassigned upload."""
    return hashlib.sha256(str(seed).encode()).digest() + os.urandom(max(0, n - 32))


def stored_copies(root: Path, data: bytes) -> list[Path]:
    """Every file under `root` holding exactly these bytes."""
    digest = hashlib.sha256(data).digest()
    return [p for p in root.rglob("*") if p.is_file() and p.stat().st_size == len(data)
            and hashlib.sha256(p.read_bytes()).digest() == digest]


def bytes_on_disk(root: Path, *skip: str) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not any(s in p.name for s in skip))


def with_policy(service, **values):
    from isap.review.service import Service

    return Service(service.engine, service.files, policy=Policy(**values), check_schema_version=False)


# ---------------------------------------------------------------------------- stored once
def test_a_refused_upload_is_stored_once_in_process(service, tmp_path, monkeypatch):
    from isap.orchestration.dispatch import assure

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    svc = with_policy(service, max_file_bytes=100_000)
    data = junk(400_000, 1)
    result = assure(svc, "alice", "big.xlsx", data)
    assert result.reference is None and result.kept_as and result.errors >= 1
    assert [p.parent.parent for p in stored_copies(tmp_path, data)] == [service.files.root]
    assert bytes_on_disk(tmp_path, ".db") < len(data) * 1.1
    assert svc.files.get(result.sha256) == data


def test_a_refused_dashboard_upload_through_the_flow_is_stored_once(tmp_path, monkeypatch, prefect_harness):
    """The flow path stages the bytes in the shared store; once the upload is kept, the staged copy is gone."""
    from isap.orchestration.dispatch import assure_dashboard_upload
    from isap.policy import Policy
    from isap.review.service import Service
    from isap.store.db import upgrade

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    upgrade()
    svc = Service()
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_user("alice", "commissioner", "QUA")
    data = junk(Policy().max_file_bytes + 1, 2)  # too large for the policy: refused
    upload = assure_dashboard_upload(svc, "alice", "big.xlsx", data)
    assert upload.as_flow and upload.result.reference is None and upload.result.kept_as
    # kept once, in the database's store of originals; the staged copy is dropped once the upload is kept
    from sqlalchemy import text

    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM original")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM staged_upload WHERE data IS NOT NULL")).scalar() == 0
    assert svc.files.get(upload.result.sha256) == data
    assert bytes_on_disk(tmp_path, ".db", "prefect") < len(data) * 0.1  # nothing beside the database


# ---------------------------------------------------------------------------- quota
def test_unassigned_uploads_past_the_count_quota_are_refused_and_nothing_kept_is_lost(service, tmp_path):
    from isap.review.service import Refused

    svc = with_policy(service, max_kept_unassigned_uploads=2)
    files = [junk(2_000, i) for i in range(2)]
    kept = [svc.upload("alice", f"j{i}.xlsx", data) for i, data in enumerate(files)]
    assert all(r.kept_as for r in kept)
    third = junk(2_000, 3)
    with pytest.raises(Refused, match="refused or could not name their proposal") as err:
        svc.upload("alice", "j3.xlsx", third)
    assert "2 uploads" in str(err.value)
    assert not svc.files.path_for(hashlib.sha256(third).hexdigest()).exists()  # nothing stored
    for data, r in zip(files, kept):  # nothing already kept is lost
        assert svc.files.get(r.sha256) == data and svc.sha_known(r.sha256)
    assert not svc.sha_known(hashlib.sha256(third).hexdigest())
    # Another organisation has its own quota.
    assert svc.upload("otto", "o.xlsx", junk(2_000, 4)).kept_as


def test_unassigned_uploads_past_the_byte_quota_are_refused(service):
    from isap.review.service import Refused

    svc = with_policy(service, max_kept_unassigned_bytes=10_000)
    assert svc.upload("alice", "a.xlsx", junk(6_000, 1)).kept_as
    with pytest.raises(Refused, match="10 KB"):
        svc.upload("alice", "b.xlsx", junk(6_000, 2))
    assert svc.upload("alice", "c.xlsx", junk(3_000, 3)).kept_as  # still fits


def test_uploads_that_name_their_proposal_do_not_count(service, tmp_path):
    from sample_submissions.proposals import clean, write

    svc = with_policy(service, max_kept_unassigned_uploads=1)
    assert svc.upload("alice", "j.xlsx", junk(2_000, 1)).kept_as
    good = write(clean(1, reference="ISAP-2026-051"), tmp_path / "good.xlsx").read_bytes()
    result = svc.upload("alice", "good.xlsx", good)
    assert (result.reference, result.version) == ("ISAP-2026-051", 1)


def test_the_command_line_obeys_the_quota(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from isap.cli import app
    from isap.review.service import Service

    monkeypatch.setenv("ISAP_DATABASE_URL", db_url)
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "isap-policy.toml").write_text("[policy]\nmax_kept_unassigned_uploads = 1\n", encoding="utf-8")
    svc = Service()
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_user("alice", "commissioner", "QUA")
    for i in (1, 2):
        (tmp_path / f"j{i}.xlsx").write_bytes(junk(2_000, i))
    first = CliRunner().invoke(app, ["upload", str(tmp_path / "j1.xlsx"), "--as", "alice"])
    assert first.exit_code == 1 and "Kept as unassigned upload" in first.output
    second = CliRunner().invoke(app, ["upload", str(tmp_path / "j2.xlsx"), "--as", "alice"])
    assert second.exit_code == 1 and "refused or could not name their proposal" in second.output
    assert "Traceback" not in second.output
    refused = (tmp_path / "j2.xlsx").read_bytes()
    assert not svc.sha_known(hashlib.sha256(refused).hexdigest())
    assert stored_copies(tmp_path / "data", refused) == []  # nothing stored, not even staged
    from sqlalchemy import text

    assert not svc.files.has(hashlib.sha256(refused).hexdigest())
    with svc.engine.connect() as conn:  # the staged copy was dropped when the upload was refused
        assert conn.execute(text("SELECT count(*) FROM staged_upload WHERE data IS NOT NULL")).scalar() == 0


# ---------------------------------------------------------------------------- the dashboard's launch
@pytest.mark.parametrize(("max_file_bytes", "mb"), [(26_214_400, "25"), (26_214_401, "26"), (1, "1")])
def test_the_dashboards_upload_limit_is_the_policys(max_file_bytes, mb):
    from isap.cli import dashboard_command

    cmd = dashboard_command(8501, "127.0.0.1", max_file_bytes)
    options = dict(zip(cmd[::1], cmd[1::1]))
    assert options["--server.maxUploadSize"] == mb
    assert options["--client.showErrorDetails"] == "none"
    assert options["--client.disableDataExport"] == "true"  # tables offer no CSV of their own


# ---------------------------------------------------------------------------- refused by a guard: nothing kept
def _workbook(tmp_path, name, **cover):
    from sample_submissions.proposals import clean, write

    proposal = clean(2, reference="ISAP-2026-021")
    proposal["Cover"].update(cover)
    return write(proposal, tmp_path / name).read_bytes()


def test_an_upload_a_guard_refuses_leaves_no_bytes_behind(service, tmp_path):
    from isap.review.service import Forbidden, Refused

    # another organisation's workbook: refused before anything is kept
    theirs = _workbook(tmp_path, "theirs.xlsx", lead_commissioner_code="QHM")
    with pytest.raises(Forbidden):
        service.upload("alice", "theirs.xlsx", theirs)
    assert stored_copies(service.files.root, theirs) == []

    # a proposal that is not open for new versions: refused, and the new bytes are not kept
    first = _workbook(tmp_path, "v1.xlsx")
    service.upload("alice", "v1.xlsx", first)
    service.withdraw("alice", "ISAP-2026-021", reason="no longer pursued")
    second = _workbook(tmp_path, "v2.xlsx", proposal_title="A later title")
    with pytest.raises(Refused):
        service.upload("alice", "v2.xlsx", second)
    assert stored_copies(service.files.root, second) == []
    assert stored_copies(service.files.root, first) != []  # what was kept stays
