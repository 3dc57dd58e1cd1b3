"""The HTTP API: every endpoint, and every scoping rule, through FastAPI's test client on a real database.

A token acts exactly as its owner: the same refusals in the same words as the command line, another
organisation's proposal reading exactly like an unknown one; tokens that expired, were revoked or
belong to a disabled account act for nobody; each token is rate limited.  Every refusal is an RFC 9457
problem document with a stable code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from isap.api.app import create_app
from isap.api.problems import PROBLEM_JSON, ProblemCode
from isap.policy import Policy
from isap.review.service import Service
from isap.store.db import engine_for
from isap.store.files import FileStore
from sample_submissions.proposals import clean, write
from tests.conftest import copy_sqlite

ROOT = Path(__file__).resolve().parents[1]
REF = "ISAP-2026-014"


class Clock:
    """The rate limit's seconds, moved by the test."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make(tmp_path, monkeypatch, migrated_sqlite):
    """A service on a fresh SQLite database with two organisations' commissioners, a reviewer and an
    administrator, and an API over it; each person's token in `tokens`."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    def build(**policy) -> tuple[Service, TestClient, dict[str, str], Clock]:
        url = copy_sqlite(migrated_sqlite, tmp_path / "isap.db")  # the session's migrated template, copied
        svc = Service(engine_for(url), FileStore(tmp_path / "files"), Policy(**policy))
        svc.add_organisation("QUA", "NHS Black Country ICB")
        svc.add_organisation("QHM", "NHS North East and North Cumbria ICB")
        svc.add_user("alice", "commissioner", "QUA")
        svc.add_user("otto", "commissioner", "QHM")
        svc.add_user("rita", "reviewer")
        svc.add_user("ada", "admin")
        tokens = {name: svc.create_token(name, "ci")[1] for name in ("alice", "otto", "rita", "ada")}
        clock = Clock()
        client = TestClient(create_app(svc, clock=clock), raise_server_exceptions=False)
        return svc, client, tokens, clock
    return build


@pytest.fixture
def api(make):
    return make()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def book(tmp_path: Path, code: str = "QUA", reference: str = REF, checkpoint: int = 1, name: str | None = None,
         warning: bool = False) -> bytes:
    p = clean(checkpoint, "Partially integrated", "NHS trust", reference)
    p["Cover"]["lead_commissioner_code"] = code
    if warning:  # REL011: no voluntary sector partner, a warning to be acknowledged before submission
        p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]
    return write(p, tmp_path / (name or f"{code}-{reference}-{checkpoint}.xlsx")).read_bytes()


def upload(client, token: str, data: bytes, filename: str = "proposal.xlsx"):
    return client.post("/v1/uploads", headers=auth(token), files={"workbook": (filename, data)})


def problem(r, status: int, code: ProblemCode) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["code"] == code.value and body["status"] == status and body["type"] == f"/problems/{code.value}"
    assert body["title"] == code.title and body["detail"]
    return body


def cli_words(*args: str, db: str, tmp_path: Path, monkeypatch) -> str:
    """What `isap` prints for a refusal, after "isap: "."""
    from typer.testing import CliRunner

    from isap.cli import app

    monkeypatch.setenv("ISAP_DATABASE_URL", db)
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 1, r.output
    return r.stderr.strip().removeprefix("isap: ")


# ---------------------------------------------------------------------- tokens
def test_without_a_token_nothing_is_served(api):
    _, client, _, _ = api
    for method, path in (("get", "/v1/me"), ("get", "/v1/proposals"), ("get", f"/v1/proposals/{REF}"),
                         ("post", f"/v1/proposals/{REF}/submit"), ("get", "/v1/review-queue")):
        r = getattr(client, method)(path)
        body = problem(r, 401, ProblemCode.TOKEN_MISSING)
        assert r.headers["www-authenticate"] == "Bearer" and body["instance"] == path
    problem(client.get("/v1/me", headers={"Authorization": "Basic YWxpY2U6eA=="}), 401, ProblemCode.TOKEN_MISSING)
    problem(client.get("/v1/me", headers=auth("isap_" + "A" * 43)), 401, ProblemCode.TOKEN_UNKNOWN)


def test_a_token_acts_as_its_owner(api):
    _, client, tokens, _ = api
    assert client.get("/v1/me", headers=auth(tokens["alice"])).json() == \
        {"username": "alice", "role": "commissioner", "organisation": "QUA"}
    assert client.get("/v1/me", headers=auth(tokens["rita"])).json()["role"] == "reviewer"


def test_expired_revoked_and_disabled_tokens_act_for_nobody(api):
    svc, client, tokens, _ = api
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=91)
    svc.clock = lambda: later
    body = problem(client.get("/v1/me", headers=auth(tokens["alice"])), 401, ProblemCode.TOKEN_EXPIRED)
    assert "expired on" in body["detail"]
    svc.clock = lambda: dt.datetime.now(dt.timezone.utc)
    [otto] = svc.tokens("otto")
    svc.revoke_token("otto", otto["id"])
    problem(client.get("/v1/me", headers=auth(tokens["otto"])), 401, ProblemCode.TOKEN_REVOKED)
    svc.disable_user("rita")
    body = problem(client.get("/v1/proposals", headers=auth(tokens["rita"])), 401, ProblemCode.ACCOUNT_DISABLED)
    assert "disabled" in body["detail"]
    svc.enable_user("rita")  # the account is back, its tokens are not: revoked, saying why
    body = problem(client.get("/v1/proposals", headers=auth(tokens["rita"])), 401, ProblemCode.TOKEN_REVOKED)
    assert "revoked when its account was disabled" in body["detail"]
    assert client.get("/v1/me", headers=auth(tokens["ada"])).status_code == 200


def test_each_account_is_rate_limited_with_retry_after(make):
    _, client, tokens, clock = make(api_requests_per_minute=3)
    for _ in range(3):
        assert client.get("/v1/me", headers=auth(tokens["alice"])).status_code == 200
        clock.now += 10
    r = client.get("/v1/me", headers=auth(tokens["alice"]))
    body = problem(r, 429, ProblemCode.RATE_LIMITED)
    assert r.headers["retry-after"] == "30" and "api_requests_per_minute" in body["detail"]
    assert client.get("/v1/me", headers=auth(tokens["otto"])).status_code == 200  # another account has its own count
    clock.now += 30  # the first request is now a minute old
    assert client.get("/v1/me", headers=auth(tokens["alice"])).status_code == 200
    problem(client.get("/v1/me", headers=auth(tokens["alice"])), 429, ProblemCode.RATE_LIMITED)


def test_more_tokens_do_not_make_more_requests(make):
    """Found by a fresh attack: each token had its own count, and an account may hold many, so three tokens made
    three times the requests a minute.  The count is the account's, over all its tokens."""
    svc, client, tokens, _ = make(api_requests_per_minute=3)
    more = [svc.create_token("alice", f"ci-{n}")[1] for n in range(2)]
    for token in (tokens["alice"], *more):
        assert client.get("/v1/me", headers=auth(token)).status_code == 200
    for token in (tokens["alice"], *more):
        body = problem(client.get("/v1/me", headers=auth(token)), 429, ProblemCode.RATE_LIMITED)
        assert "alice's tokens made 3 requests in the last minute" in body["detail"]
    assert client.get("/v1/me", headers=auth(tokens["otto"])).status_code == 200  # another account's own count


# ---------------------------------------------------------------------- check
def test_check_answers_the_json_report_of_isap_check_and_keeps_nothing(api, tmp_path):
    from isap.outputs.formats import to_json
    from isap.rules.engine import check_file

    svc, client, tokens, _ = api
    data = book(tmp_path, warning=True, name="mine.xlsx")
    with svc.engine.connect() as conn:
        before = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("proposal", "original", "staged_upload", "unassignedupload")]
    r = client.post("/v1/check", headers=auth(tokens["rita"]), files={"workbook": ("mine.xlsx", data)})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    report = r.json()
    expected = json.loads(to_json([check_file(tmp_path / "mine.xlsx", svc.policy)]))
    assert report["file"] == "mine.xlsx"
    assert {k: v for k, v in report.items() if k != "file"} == {k: v for k, v in expected.items() if k != "file"}
    assert [f["rule_id"] for f in report["findings"]] == ["REL011"] and r.headers["isap-exit-status"] == "0"
    with svc.engine.connect() as conn:
        after = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                 for t in ("proposal", "original", "staged_upload", "unassignedupload")]
    assert after == before


def test_check_says_errors_and_unreadable_files_by_the_exit_status_of_isap_check(api, tmp_path):
    _, client, tokens, _ = api
    r = client.post("/v1/check", headers=auth(tokens["alice"]), data={"checkpoint": "2"},
                    files={"workbook": ("cp1.xlsx", book(tmp_path))})
    assert r.status_code == 200 and r.json()["checkpoint"] == 2 and r.headers["isap-exit-status"] == "1"
    r = client.post("/v1/check", headers=auth(tokens["alice"]), files={"workbook": ("x.xlsx", b"not a workbook")})
    assert r.status_code == 200 and r.headers["isap-exit-status"] == "2"
    assert r.json()["findings"][0]["rule_id"].startswith("WB")
    body = problem(client.post("/v1/check", headers=auth(tokens["alice"]), data={"checkpoint": "4"},
                               files={"workbook": ("x.xlsx", b"x")}), 422, ProblemCode.INVALID_REQUEST)
    assert "checkpoint" in body["detail"]
    body = problem(client.post("/v1/check", headers=auth(tokens["alice"])), 422, ProblemCode.INVALID_REQUEST)
    assert "workbook" in body["detail"]


def test_a_body_over_the_limit_is_refused_while_it_is_read(make, tmp_path):
    _, client, tokens, _ = make(max_file_bytes=100_000)
    data = book(tmp_path)
    assert len(data) < 100_000
    assert client.post("/v1/check", headers=auth(tokens["alice"]), files={"workbook": ("a.xlsx", data)}) \
        .status_code == 200
    big = data + b"\0" * 100_000
    body = problem(client.post("/v1/check", headers=auth(tokens["alice"]), files={"workbook": ("a.xlsx", big)}),
                   413, ProblemCode.TOO_LARGE)
    assert body["detail"] == "The file is over the limit of 100,000 bytes."  # the reader's own words (WB003)

    def chunks():  # no declared length: counted as it arrives
        boundary = b"--b\r\nContent-Disposition: form-data; name=\"workbook\"; filename=\"a.xlsx\"\r\n\r\n"
        yield boundary
        for _ in range(40):
            yield b"\0" * 10_000
        yield b"\r\n--b--\r\n"
    r = client.post("/v1/uploads", headers={**auth(tokens["alice"]), "Content-Type": "multipart/form-data; boundary=b"},
                    content=chunks())
    problem(r, 413, ProblemCode.TOO_LARGE)


def test_a_declared_length_of_thousands_of_digits_is_refused_as_too_large(make):
    """Python refuses to read an integer of more than 4,300 digits: a Content-Length of 5,000 digits ended as a
    server error where a body over the limit is refused."""
    _, client, tokens, _ = make(max_file_bytes=100_000)
    r = client.post("/v1/check", headers={**auth(tokens["alice"]), "Content-Length": "9" * 5000}, content=b"x")
    problem(r, 413, ProblemCode.TOO_LARGE)


# ---------------------------------------------------------------------- uploads and proposals
def test_upload_read_submit_findings_and_original(api, tmp_path):
    _, client, tokens, _ = api
    data = book(tmp_path)
    r = upload(client, tokens["alice"], data, "mine.xlsx")
    assert r.status_code == 201, r.text
    done = r.json()
    assert (done["status"], done["reference"], done["version"], done["created_proposal"], done["errors"]) == \
        ("done", REF, 1, True, 0)
    assert done["sha256"] == hashlib.sha256(data).hexdigest()
    again = client.get(f"/v1/uploads/{done['staged_id']}", headers=auth(tokens["alice"]))
    assert again.status_code == 200 and again.json()["version"] == 1
    [row] = client.get("/v1/proposals", headers=auth(tokens["alice"])).json()
    assert (row["reference"], row["state"], row["latest_version"]) == (REF, "draft", 1)
    shown = client.get(f"/v1/proposals/{REF}", headers=auth(tokens["alice"])).json()
    assert shown["title"] and [v["number"] for v in shown["versions"]] == [1]
    findings = client.get(f"/v1/proposals/{REF}/versions/1/findings", headers=auth(tokens["alice"]))
    assert findings.status_code == 200 and isinstance(findings.json(), list)
    original = client.get(f"/v1/proposals/QUA/{REF}/versions/1/original", headers=auth(tokens["alice"]))
    assert original.status_code == 200 and original.content == data
    assert original.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    assert original.headers["content-disposition"] == 'attachment; filename="mine.xlsx"'
    problem(client.get(f"/v1/proposals/{REF}/versions/2/findings", headers=auth(tokens["alice"])), 404,
            ProblemCode.NOT_FOUND)
    r = client.post(f"/v1/proposals/{REF}/submit", headers=auth(tokens["alice"]))
    assert r.status_code == 200 and r.json() == {"name": REF, "state": "submitted", "checkpoint": 1,
                                                 "message": f"Submitted {REF}"}
    queue = client.get("/v1/review-queue", headers=auth(tokens["rita"])).json()
    assert [(q["reference"], q["state"], q["overdue"]) for q in queue] == [(REF, "submitted", False)]
    ids = client.get(f"/v1/proposals/{REF}", headers=auth(tokens["rita"])).json()
    assert ids["state"] == "submitted"
    assert [p["reference"] for p in client.get("/v1/proposals?state=submitted",
                                               headers=auth(tokens["rita"])).json()] == [REF]
    body = problem(client.get("/v1/proposals?state=lost", headers=auth(tokens["rita"])), 400, ProblemCode.INVALID)
    assert body["detail"].startswith("state must be one of")


def test_the_national_views_rows_for_reviewers_and_administrators_only(api, tmp_path):
    svc, client, tokens, _ = api
    svc.set_region("QUA", "midlands")
    upload(client, tokens["alice"], book(tmp_path))
    upload(client, tokens["otto"], book(tmp_path, code="QHM", reference="ISAP-2026-099"))
    svc.plan_submission("alice", REF, 1, dt.date(2026, 1, 5))  # long passed: late
    for who in ("rita", "ada"):
        rows = client.get("/v1/national", headers=auth(tokens[who])).json()
        assert {(r["commissioner"], r["reference"], r["region"], r["late"]) for r in rows} == {
            ("QUA", REF, "midlands", True), ("QHM", "ISAP-2026-099", None, False)}
    late = client.get("/v1/national?late=true&region=Midlands&checkpoint=1&state=draft&model=Partially%20integrated",
                      headers=auth(tokens["rita"])).json()
    assert [r["reference"] for r in late] == [REF] and late[0]["slippage_working_days"] > 200
    assert client.get("/v1/national?late=false", headers=auth(tokens["rita"])).json()[0]["reference"] \
        == "ISAP-2026-099"
    body = problem(client.get("/v1/national", headers=auth(tokens["alice"])), 403, ProblemCode.FORBIDDEN)
    assert body["detail"] == "alice is a commissioner; this needs a reviewer or admin"
    body = problem(client.get("/v1/national?region=Wessex", headers=auth(tokens["rita"])), 400, ProblemCode.INVALID)
    assert body["detail"].startswith("'Wessex' is not one of NHS England's regions")
    problem(client.get("/v1/national?state=lost", headers=auth(tokens["rita"])), 400, ProblemCode.INVALID)
    problem(client.get("/v1/national", headers=auth("not-a-token")), 401, ProblemCode.TOKEN_UNKNOWN)


def test_refusals_carry_the_command_lines_words(api, tmp_path, monkeypatch):
    svc, client, tokens, _ = api
    assert upload(client, tokens["alice"], book(tmp_path, warning=True)).status_code == 201
    db = str(svc.engine.url)
    # the workflow's guard: an unacknowledged warning
    body = problem(client.post(f"/v1/proposals/{REF}/submit", headers=auth(tokens["alice"])), 409,
                   ProblemCode.REFUSED)
    assert body["detail"] == cli_words("submit", REF, "--as", "alice", db=db, tmp_path=tmp_path,
                                       monkeypatch=monkeypatch)
    # a role that may never upload
    body = problem(upload(client, tokens["rita"], book(tmp_path)), 403, ProblemCode.FORBIDDEN)
    path = tmp_path / "r.xlsx"
    path.write_bytes(book(tmp_path))
    assert body["detail"] == cli_words("upload", str(path), "--as", "rita", db=db, tmp_path=tmp_path,
                                       monkeypatch=monkeypatch)


def test_another_organisations_proposal_reads_exactly_like_an_unknown_one(api, tmp_path):
    svc, client, tokens, _ = api
    assert upload(client, tokens["alice"], book(tmp_path)).status_code == 201
    with svc.engine.connect() as conn:
        number = conn.execute(text("SELECT id FROM proposal")).scalar()
    theirs, unknown = f"QUA/{REF}", "QUA/ISAP-2026-999"
    for method, suffix in (("get", ""), ("get", "/versions/1/findings"), ("get", "/versions/1/original"),
                           ("post", "/submit")):
        seen = []
        for name in (theirs, unknown, REF, "ISAP-2026-999", f"%23{number}", "%23999999"):
            r = getattr(client, method)(f"/v1/proposals/{name}{suffix}", headers=auth(tokens["otto"]))
            body = problem(r, 404, ProblemCode.NOT_FOUND)
            shown = name.replace("%23", "#")
            assert body["detail"] == f"no proposal {shown} that you can see"
            seen.append({k: v for k, v in body.items() if k not in ("detail", "instance")})
        assert all(s == seen[0] for s in seen)
    assert client.get("/v1/proposals", headers=auth(tokens["otto"])).json() == []
    assert client.get("/v1/review-queue", headers=auth(tokens["otto"])).json() == []
    # the owner and the reviewers see it by each of its names
    for token in (tokens["alice"], tokens["rita"], tokens["ada"]):
        for name in (theirs, REF, f"%23{number}"):
            assert client.get(f"/v1/proposals/{name}", headers=auth(token)).json()["commissioner"] == "QUA"
    assert svc.show("alice", REF)["state"] == "draft"  # otto's submit changed nothing


def test_a_reference_both_organisations_use_is_named_with_the_code(api, tmp_path):
    _, client, tokens, _ = api
    assert upload(client, tokens["alice"], book(tmp_path, "QUA")).status_code == 201
    assert upload(client, tokens["otto"], book(tmp_path, "QHM")).status_code == 201
    assert client.get(f"/v1/proposals/{REF}", headers=auth(tokens["otto"])).json()["commissioner"] == "QHM"
    body = problem(client.get(f"/v1/proposals/{REF}", headers=auth(tokens["rita"])), 404, ProblemCode.NOT_FOUND)
    assert f"QHM/{REF} or QUA/{REF}" in body["detail"]
    assert [p["name"] for p in client.get("/v1/proposals", headers=auth(tokens["rita"])).json()] == \
        [f"QHM/{REF}", f"QUA/{REF}"]


def test_an_upload_that_cannot_name_its_proposal_is_not_assigned(api, tmp_path):
    _, client, tokens, _ = api
    r = upload(client, tokens["alice"], b"not a workbook at all", "junk.xlsx")
    body = problem(r, 422, ProblemCode.NOT_ASSIGNED)
    assert body["detail"].startswith("junk.xlsx: ") and "Kept as unassigned" in body["detail"]
    assert body["upload"]["kept_as"].startswith("unassigned") and body["upload"]["reference"] is None


def test_another_persons_upload_is_not_found(api, tmp_path):
    _, client, tokens, _ = api
    staged = upload(client, tokens["alice"], book(tmp_path)).json()["staged_id"]
    for token in (tokens["otto"], tokens["rita"]):
        problem(client.get(f"/v1/uploads/{staged}", headers=auth(token)), 404, ProblemCode.NOT_FOUND)


def test_unknown_addresses_and_methods_are_problems_too(api):
    _, client, tokens, _ = api
    problem(client.get("/v2/nothing", headers=auth(tokens["alice"])), 404, ProblemCode.NO_SUCH_ENDPOINT)
    problem(client.delete("/v1/proposals", headers=auth(tokens["alice"])), 405, ProblemCode.METHOD_NOT_ALLOWED)
    described = client.get("/problems/not_found").json()
    assert described["status"] == 404 and "another organisation" in described["meaning"].lower()
    assert described["code"] == "not_found"
    problem(client.get("/problems/nonsense"), 404, ProblemCode.NO_SUCH_ENDPOINT)


def test_the_store_out_of_reach_is_a_problem_not_a_traceback(api, tmp_path):
    svc, client, tokens, _ = api
    svc.engine.dispose()
    (tmp_path / "isap.db").unlink()
    (tmp_path / "isap.db").mkdir()  # the database file is now a folder: nothing can open it
    body = problem(client.get("/v1/me", headers=auth(tokens["alice"])), 503, ProblemCode.STORE_UNAVAILABLE)
    assert "Traceback" not in body["detail"]


# ---------------------------------------------------------------------- the OpenAPI document
def test_the_committed_openapi_document_is_current():
    from scripts.gen_docs import openapi_json

    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_json(), "docs/openapi.json is stale: run .venv/bin/python -m scripts.gen_docs"
    paths = json.loads(committed)["paths"]
    assert {"/v1/check", "/v1/uploads", "/v1/uploads/{staged_id}", "/v1/proposals", "/v1/proposals/{name}",
            "/v1/proposals/{name}/submit", "/v1/proposals/{name}/versions/{number}/findings",
            "/v1/proposals/{name}/versions/{number}/original", "/v1/review-queue", "/v1/me"} <= set(paths)
