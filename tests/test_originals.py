"""Where originals are kept: the database store, an S3 store (a real S3 endpoint on loopback), the move from the
file store of earlier releases, and `isap download`.

The S3 endpoint is moto's server, started by this module as a child that dies
with the test process (a parent-death signal) and is stopped when the module is
done.  Every S3 test has a bucket of its own, and the AWS settings are only the
test's: no file or profile of the machine's user is read.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from isap.orchestration.processes import die_with_parent
from isap.store.db import engine_for
from isap.store.files import FileStore
from isap.store.models import Original
from isap.store.originals import DatabaseOriginals, OriginalsError, configured_originals
from sample_submissions.proposals import clean, write
from tests.cluster import stop
from tests.in_process import isap

REF = "ISAP-2026-014"
SECRET = "isap-test-secret-do-not-print"


def workbook(tmp_path: Path, name: str = "proposal.xlsx") -> bytes:
    return write(clean(1, reference=REF), tmp_path / name).read_bytes()


def people(svc):
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_organisation("QHM", "NHS North East and North Cumbria ICB")
    svc.add_user("alice", "commissioner", "QUA", password="correct horse")
    svc.add_user("otto", "commissioner", "QHM")
    svc.add_user("rita", "reviewer")
    return svc


def originals_rows(engine) -> int:
    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(Original)).scalar()


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """`isap ARGS` with exactly the environment `env` (in this process: tests.in_process)."""
    return isap(*args, env={**dict.fromkeys(os.environ.keys() - env.keys()), **env})


def one_line_failure(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr.strip()


# ---------------------------------------------------------------------- the database store

def test_the_database_keeps_each_original_once(db_url):
    engine = engine_for(db_url)
    store = DatabaseOriginals(engine)
    sha = store.put(b"a workbook's bytes")
    assert sha == hashlib.sha256(b"a workbook's bytes").hexdigest()
    assert store.put(b"a workbook's bytes") == sha  # the same bytes again: nothing new
    assert originals_rows(engine) == 1
    assert store.get(sha) == b"a workbook's bytes" and store.has(sha)
    assert store.describe() == "the database"
    absent = hashlib.sha256(b"never kept").hexdigest()
    assert not store.has(absent)
    with pytest.raises(OriginalsError, match=f"{absent[:12]}… is not in the store"):
        store.get(absent)
    for bad in ("abc", "../../etc/passwd", sha.upper(), sha + "0"):
        with pytest.raises(OriginalsError, match="not a SHA-256 digest"):
            store.get(bad)
        with pytest.raises(OriginalsError, match="not a SHA-256 digest"):
            store.has(bad)


def test_an_original_put_in_a_transaction_that_rolls_back_is_not_kept(db_url):
    engine = engine_for(db_url)
    store = DatabaseOriginals(engine)
    with Session(engine) as s:
        with s.begin():
            sha = store.put(b"kept with its record", s)
            s.rollback()
    assert not store.has(sha) and originals_rows(engine) == 0


# ---------------------------------------------------------------------- a real S3 endpoint

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server on loopback for this module; always stopped, and killed with the test process."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent())
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto's server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto's server did not answer within 60 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch, tmp_path) -> dict:
    """The standard AWS settings pointing at the loopback endpoint, and a new bucket; the settings as a dict."""
    settings = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "isap-test", "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_DEFAULT_REGION": "eu-west-2",
                # none of the machine's own AWS files or profiles
                "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials")}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    import boto3

    bucket = "isap-" + uuid.uuid4().hex[:20]
    boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return {**settings, "bucket": bucket}


def objects(bucket: str) -> list[str]:
    import boto3

    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_s3_keeps_each_original_once_under_its_digest(s3_env):
    from isap.store.s3 import S3Originals

    bucket = s3_env["bucket"]
    store = S3Originals.from_url(f"s3://{bucket}/originals/")
    sha = store.put(b"a workbook's bytes", session=None)
    assert objects(bucket) == [f"originals/{sha[:2]}/{sha}"]
    assert store.get(sha) == b"a workbook's bytes" and store.has(sha)
    # the same bytes again: found by head_object, not written again
    calls = []
    store.client.meta.events.register("before-call.s3.PutObject", lambda **kw: calls.append(kw))
    assert store.put(b"a workbook's bytes") == sha and calls == []
    store.put(b"other bytes")
    assert len(calls) == 1 and len(objects(bucket)) == 2
    assert store.describe() == f"s3://{bucket}/originals at 127.0.0.1"
    absent = hashlib.sha256(b"never kept").hexdigest()
    assert not store.has(absent)
    with pytest.raises(OriginalsError, match=f"{absent[:12]}… is not in s3://{bucket}/originals"):
        store.get(absent)
    with pytest.raises(OriginalsError, match="not a SHA-256 digest"):
        store.get("../" + sha[3:])


def test_s3_reports_a_corrupt_object_and_never_serves_it(s3_env):
    import boto3

    from isap.store.s3 import S3Originals

    store = S3Originals.from_url(f"s3://{s3_env['bucket']}")
    sha = store.put(b"the original bytes")
    boto3.client("s3").put_object(Bucket=s3_env["bucket"], Key=f"{sha[:2]}/{sha}", Body=b"the 0riginal bytes")
    with pytest.raises(OriginalsError, match=f"{sha[:12]}… in s3://{s3_env['bucket']} is corrupt") as caught:
        store.get(sha)
    assert sha not in str(caught.value)  # the first 12 hex digits name it; the rest adds nothing


def test_s3_failures_are_one_plain_message_without_secrets(s3_env, monkeypatch):
    from isap.store.s3 import S3Originals

    missing = S3Originals.from_url("s3://no-such-bucket-here/x")
    with pytest.raises(OriginalsError, match="no such bucket") as caught:
        missing.put(b"bytes")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    unreachable = S3Originals.from_url(f"s3://{s3_env['bucket']}")
    sha = hashlib.sha256(b"bytes").hexdigest()
    with pytest.raises(OriginalsError, match="cannot be read .*: the endpoint cannot be reached") as caught2:
        unreachable.get(sha)
    for message in (str(caught.value), str(caught2.value)):
        assert SECRET not in message and "isap-test" not in message
    for bad in ("s3://", "s3:///prefix", "s3://Bad_Bucket/x", "https://bucket/x"):
        with pytest.raises(OriginalsError):
            S3Originals.from_url(bad)


def test_an_upload_keeps_its_original_in_s3_and_downloads_intact(s3_env, db_url, tmp_path, monkeypatch):
    from isap.review.service import NotFound, Service, StoreError

    bucket = s3_env["bucket"]
    monkeypatch.setenv("ISAP_ORIGINALS", f"s3://{bucket}/isap")
    svc = people(Service(engine_for(db_url)))  # the store of originals as the installation is set
    assert svc.files.describe().startswith(f"s3://{bucket}/isap")
    data = workbook(tmp_path)
    r = svc.upload("alice", "proposal.xlsx", data)
    assert (r.reference, r.version) == (REF, 1)
    sha = hashlib.sha256(data).hexdigest()
    assert r.sha256 == sha and objects(bucket) == [f"isap/{sha[:2]}/{sha}"]
    assert originals_rows(svc.engine) == 0  # nothing in the database's own store
    name, got = svc.version_bytes("rita", REF, 1)
    assert name == "proposal.xlsx" and hashlib.sha256(got).hexdigest() == sha
    with pytest.raises(NotFound):
        svc.version_bytes("otto", REF, 1)

    # a damaged object is reported, not handed out
    import boto3

    boto3.client("s3").put_object(Bucket=bucket, Key=f"isap/{sha[:2]}/{sha}", Body=data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(StoreError, match=f"{sha[:12]}… .*corrupt"):
        svc.version_bytes("alice", REF, 1)
    env = {**os.environ, "ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path / "data")}
    r = cli(env, "download", REF, "--version", "1", "--out", str(tmp_path / "v1.xlsx"), "--as", "alice")
    assert r.returncode == 1 and "corrupt" in one_line_failure(r) and not (tmp_path / "v1.xlsx").exists()


def test_an_upload_whose_original_cannot_be_kept_records_nothing(s3_env, db_url, tmp_path, monkeypatch):
    from isap.review.service import Service, StoreError

    monkeypatch.setenv("ISAP_ORIGINALS", "s3://no-such-bucket-here")
    svc = people(Service(engine_for(db_url)))
    with pytest.raises(StoreError, match="no such bucket"):
        svc.upload("alice", "proposal.xlsx", workbook(tmp_path))
    assert svc.list_proposals("rita") == []


def test_a_store_setting_isap_cannot_use_is_one_line(db_url, tmp_path):
    env = {**os.environ, "ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path / "data"),
           "ISAP_ORIGINALS": "ftp://somewhere"}
    r = cli(env, "list", "--as", "rita")
    assert r.returncode == 1 and "ISAP_ORIGINALS='ftp://somewhere'" in one_line_failure(r)


def test_configured_originals_does_not_load_boto3_for_the_database(db_url):
    code = ("import sys; from isap.store.db import engine_for; from isap.store.originals import configured_originals; "
            f"configured_originals(engine_for({db_url!r})); print('boto3' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "ISAP_ORIGINALS"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.strip() == "False", r.stderr
    assert isinstance(configured_originals(engine_for(db_url)), DatabaseOriginals)


# ---------------------------------------------------------------------- the move from the file store

def test_store_migrate_moves_the_file_store_into_the_database(service, db_url, tmp_path):
    folder = service.files
    assert isinstance(folder, FileStore) and folder.root == tmp_path / "files"
    book = workbook(tmp_path)
    assert service.upload("alice", "proposal.xlsx", book).version == 1
    kept, there, lost, damaged = book, b"kept unassigned 1", b"kept unassigned 2", b"kept unassigned 3"
    for data in (there, lost, damaged):  # not workbooks: kept as unassigned uploads, which are moved too
        assert service.upload("alice", "notes.xlsx", data).kept_as.startswith("unassigned upload")
    sha = {data: hashlib.sha256(data).hexdigest() for data in (kept, there, lost, damaged)}
    database = DatabaseOriginals(service.engine)
    database.put(there)
    folder.path_for(sha[lost]).unlink()
    folder.path_for(sha[damaged]).write_bytes(b"kept unassigned 4")

    env = {**os.environ, "ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path)}
    env.pop("ISAP_ORIGINALS", None)
    r = cli(env, "store", "migrate", "--from", str(folder.root))
    assert r.returncode == 1, r.stderr
    assert (f"Originals from {folder.root} into the database: moved 1, already there 1, missing from the folder 1, "
            "corrupt 1") in r.stdout
    assert f"missing from the folder: {sha[lost]}" in r.stdout and f"corrupt (bytes do not match the name): " \
        f"{sha[damaged]}" in r.stdout
    assert "Nothing was deleted" in r.stdout
    assert database.get(sha[kept]) == kept and not database.has(sha[lost]) and not database.has(sha[damaged])
    assert all(folder.path_for(sha[d]).is_file() for d in (kept, there, damaged))  # the folder is left as it was

    # once the folder is whole again, a second run (from the default folder, ISAP_DATA_DIR/files) completes it
    folder.path_for(sha[damaged]).unlink()
    folder.put(damaged)
    folder.put(lost)
    r = cli(env, "store", "migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "moved 2, already there 2, missing from the folder 0, corrupt 0" in r.stdout
    assert originals_rows(service.engine) == 4
    service.files = database  # the installation now reads its originals from the database
    assert service.version_bytes("alice", REF, 1) == ("proposal.xlsx", kept)

    r = cli(env, "store", "migrate", "--from", str(tmp_path / "proposal.xlsx"))
    assert r.returncode == 2 and "is not a folder" in one_line_failure(r)


# ---------------------------------------------------------------------- isap download

@pytest.fixture
def database_service(db_url):
    from isap.review.service import Service

    return people(Service(engine_for(db_url), DatabaseOriginals(engine_for(db_url))))


def test_download_writes_the_original_for_those_who_may_see_it(database_service, db_url, tmp_path):
    data = workbook(tmp_path)
    database_service.upload("alice", "proposal.xlsx", data)
    sha = hashlib.sha256(data).hexdigest()
    env = {**os.environ, "ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path / "data")}
    env.pop("ISAP_ORIGINALS", None)
    out = tmp_path / "v1.xlsx"
    r = cli(env, "download", REF, "--version", "1", "--out", str(out), "--as", "alice")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data and (out.stat().st_mode & 0o777) == 0o600
    assert sha in r.stdout and f"{len(data)} bytes" in r.stdout

    # an existing file is kept unless --force says otherwise
    out.write_bytes(b"mine")
    out.chmod(0o644)
    r = cli(env, "download", REF, "--version", "1", "--out", str(out), "--as", "rita")
    assert r.returncode == 1 and "exists; --force replaces it" in one_line_failure(r)
    assert out.read_bytes() == b"mine"
    r = cli(env, "download", REF, "--version", "1", "--out", str(out), "--as", "rita", "--force")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == data and (out.stat().st_mode & 0o777) == 0o600

    # another organisation's proposal is not found, as everywhere; nothing is written
    theirs = tmp_path / "theirs.xlsx"
    r = cli(env, "download", REF, "--version", "1", "--out", str(theirs), "--as", "otto")
    assert r.returncode == 1 and f"no proposal {REF} that you can see" in one_line_failure(r)
    assert not theirs.exists()
    r = cli(env, "download", REF, "--version", "7", "--out", str(theirs), "--as", "alice")
    assert r.returncode == 1 and "has no version 7" in one_line_failure(r) and not theirs.exists()
    r = cli(env, "download", REF, "--version", "1", "--out", str(tmp_path / "no-folder" / "v1.xlsx"), "--as", "alice")
    assert r.returncode == 1 and "cannot write" in one_line_failure(r)
    with database_service.engine.connect() as conn:  # downloads change nothing
        assert conn.execute(text("SELECT count(*) FROM submissionversion")).scalar() == 1
