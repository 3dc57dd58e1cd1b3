"""Limits and storage: free text is bounded, stored bytes have quotas, private data is private, demo data
stays out of a real store, and control characters neither break the store nor disguise text in outputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from isap.review.service import ConditionInput, Refused, Service, WorkflowError
from sample_submissions.proposals import clean, write
from tests.panel import decide, take

REF = "ISAP-2026-014"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}


def book(tmp_path, p, name="w.xlsx") -> bytes:
    return write(p, tmp_path / name).read_bytes()


def warned(service, tmp_path) -> None:
    """REF at checkpoint 1 with one warning (REL011) to acknowledge."""
    p = clean(1, reference=REF)
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]
    service.upload("alice", "v1.xlsx", book(tmp_path, p))


# ---------------------------------------------------------------------- free text has a documented maximum
def _in_review(service, tmp_path) -> None:
    warned(service, tmp_path)
    service.acknowledge("alice", REF, "REL011", "CVS joins via the alliance board.")
    service.submit("alice", REF)
    take(service, "rita", REF)


def test_an_organisations_code_and_name_have_a_maximum(service):
    """A 5,000-character code and a 100,000-character name were accepted, making a 105 KB audit entry."""
    from isap.review.limits import TextKind

    with pytest.raises(WorkflowError, match=r"organisation's code .* at most 16"):
        service.add_organisation("Q" * 5_000, "NHS Somewhere ICB")
    with pytest.raises(WorkflowError, match=r"organisation's name .* at most 200"):
        service.add_organisation("QZZ", "n" * 100_000)
    assert service.add_organisation("qzz", "N" * TextKind.ORGANISATION_NAME.max_chars).code == "QZZ"


def test_every_free_text_kind_has_a_maximum_and_a_longer_text_is_refused_naming_it(service, tmp_path):
    from isap.review.limits import TextKind

    assert {k.max_chars for k in TextKind} and all(k.max_chars > 0 and k.label for k in TextKind)
    warned(service, tmp_path)
    too_long = "x" * (TextKind.NOTE.max_chars + 1)
    with pytest.raises(WorkflowError, match=rf"acknowledgement note .* at most {TextKind.NOTE.max_chars:,}"):
        service.acknowledge("alice", REF, "REL011", too_long)
    assert service.show("alice", REF)["findings"][0].get("acknowledged") is None  # nothing kept
    service.acknowledge("alice", REF, "REL011", "y" * TextKind.NOTE.max_chars)  # the maximum itself is kept
    service.submit("alice", REF)
    take(service, "rita", REF)
    with pytest.raises(WorkflowError, match="comment .* at most"):
        service.comment("rita", REF, "c" * (TextKind.COMMENT.max_chars + 1))
    with pytest.raises(WorkflowError, match="rationale .* at most"):
        decide(service, "rita", REF, "approved", RATINGS, "r" * (TextKind.RATIONALE.max_chars + 1))
    with pytest.raises(WorkflowError, match="condition .* at most"):
        decide(service, "rita", REF, "approved_with_conditions", RATINGS, "fine",
                       [ConditionInput("t" * (TextKind.CONDITION.max_chars + 1), "owner", dt.date(2027, 1, 1))])
    with pytest.raises(WorkflowError, match="condition's owner .* at most"):
        decide(service, "rita", REF, "approved_with_conditions", RATINGS, "fine",
                       [ConditionInput("text", "o" * (TextKind.CONDITION_OWNER.max_chars + 1), dt.date(2027, 1, 1))])
    with pytest.raises(WorkflowError, match="reason .* at most"):
        service.return_submission("rita", REF, "q" * (TextKind.REASON.max_chars + 1))
    decide(service, "rita", REF, "approved_with_conditions", RATINGS, "fine",
                   [ConditionInput("Publish the report", "ICB lead", dt.date(2027, 1, 1))])
    with pytest.raises(WorkflowError, match="answer .* at most"):
        service.answer_condition("alice", REF, 1, "a" * (TextKind.ANSWER.max_chars + 1))
    with pytest.raises(WorkflowError, match="note .* at most"):
        service.discharge("rita", REF, 1, "n" * (TextKind.CLOSING_NOTE.max_chars + 1))
    assert service.show("rita", REF)["conditions"][0]["status"] == "open"


def test_control_characters_in_free_text_never_reach_the_store(service, tmp_path):
    warned(service, tmp_path)
    service.acknowledge("alice", REF, "REL011", "CVS\x00 joins\x1b[2J via\tthe\nalliance\x85 board.")
    [f] = [f for f in service.show("alice", REF)["findings"] if f["rule_id"] == "REL011"]
    assert f["acknowledged"]["note"] == "CVS joins[2J via\tthe\nalliance board."


def test_the_dashboard_text_areas_use_the_same_maxima():
    pages = Path(__file__).resolve().parents[1] / "dashboards"
    source = "\n".join(p.read_text() for p in sorted(pages.rglob("*.py")))
    assert "max_chars=2000" not in source and "max_chars=200)" not in source  # no maximum of its own
    for kind in ("NOTE", "COMMENT", "RATIONALE", "ANSWER", "CONDITION", "CONDITION_OWNER", "REASON"):
        assert f"TextKind.{kind}.max_chars" in source, kind


# ---------------------------------------------------------------------- storage quotas
def _service_with(service: Service, **policy) -> Service:
    from isap.policy import Policy

    return Service(service.engine, service.files, Policy(**policy))


def _versions(tmp_path, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        p = clean(1, reference=REF)
        p["Cover"]["proposal_title"] = f"Dudley integrated care provider, draft {i}"
        out.append(book(tmp_path, p, f"v{i}.xlsx"))
    return out


def test_a_proposal_past_its_storage_quota_is_refused_and_nothing_is_kept(service, tmp_path):
    versions = _versions(tmp_path, 3)
    quota = len(versions[0]) + len(versions[1]) + len(versions[2]) // 2
    svc = _service_with(service, max_proposal_bytes=quota)
    svc.upload("alice", "v0.xlsx", versions[0])
    svc.upload("alice", "v1.xlsx", versions[1])
    with pytest.raises(Refused, match=rf"{REF} already keeps 2 version\(s\).*quota"):
        svc.upload("alice", "v2.xlsx", versions[2])
    assert [v["number"] for v in svc.show("alice", REF)["versions"]] == [1, 2]
    assert not svc.files.has(__import__("hashlib").sha256(versions[2]).hexdigest())
    svc.upload("alice", "v0.xlsx", versions[0])  # identical bytes keep nothing new, so they are not refused


def test_an_organisation_past_its_storage_quota_is_refused_at_staging_and_upload(service, tmp_path):
    versions = _versions(tmp_path, 2)
    svc = _service_with(service, max_organisation_bytes=len(versions[0]) + len(versions[1]) // 2)
    svc.upload("alice", "v0.xlsx", versions[0])
    with pytest.raises(Refused, match="NHS Black Country ICB|QUA.*quota"):
        svc.upload("alice", "v1.xlsx", versions[1])
    with pytest.raises(Refused, match="quota"):
        svc.stage_uploads("alice", [("v1.xlsx", versions[1])])
    svc.stage_uploads("otto", [("v1.xlsx", versions[1])])  # another organisation has its own quota


def test_quotas_are_policy_values_with_descriptions():
    from isap.policy import Policy

    fields = {f.name: f for f in dataclasses.fields(Policy)}
    for name in ("max_proposal_bytes", "max_organisation_bytes"):
        assert fields[name].metadata["description"] and fields[name].default > 0
    assert Policy().max_organisation_bytes > Policy().max_proposal_bytes


# ---------------------------------------------------------------------- what isap writes is private
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def default_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_sqlite_database_its_journals_and_folders_are_private(tmp_path, monkeypatch, default_umask):
    from isap.store.db import engine_for, upgrade
    from isap.store.files import FileStore

    data = tmp_path / "data"
    monkeypatch.setenv("ISAP_DATA_DIR", str(data))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    upgrade()
    svc = Service()
    svc.add_organisation("QUA", "NHS Black Country ICB")
    assert _mode(data) == 0o700
    db = data / "isap.db"
    with engine_for(f"sqlite:///{db}").connect():  # open: the write-ahead log and shared memory exist now
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert path.exists() and _mode(path) == 0o600, path
    store = FileStore(tmp_path / "files")
    sha = store.put(b"original bytes")
    assert _mode(store.path_for(sha)) == 0o600
    assert _mode(store.path_for(sha).parent) == 0o700 and _mode(tmp_path / "files") == 0o700


def test_an_existing_database_readable_by_others_is_made_private(tmp_path, default_umask):
    from isap.store.db import engine_for, upgrade

    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    upgrade(f"sqlite:///{db}")
    with engine_for(f"sqlite:///{db}").connect():
        pass
    assert _mode(db) == 0o600


def test_outbox_messages_and_their_folder_are_private(tmp_path, default_umask):
    from isap.orchestration.notifications import FolderTransport, MailSettings

    settings = MailSettings(host=None, outbox=tmp_path / "outbox")
    folder = settings.outbox_dir()
    msg = email.message.EmailMessage()
    msg["To"] = "alice@nhs.net"
    msg["Subject"] = "ISAP-2026-014 decided"
    msg.set_content("personal data")
    FolderTransport(folder).send(msg, {"key": "decided:ISAP-2026-014:1"})
    [eml] = folder.glob("*.eml")
    assert _mode(eml) == 0o600 and _mode(folder) == 0o700


def test_documents_the_command_line_writes_are_private(tmp_path, default_umask):
    from isap.private import write_private

    out = tmp_path / "report.html"
    write_private(out, "<p>proposal data</p>")
    assert _mode(out) == 0o600 and out.read_text() == "<p>proposal data</p>"
    out.chmod(0o644)
    write_private(out, b"again")
    assert _mode(out) == 0o600 and out.read_bytes() == b"again"
    source = (Path(__file__).resolve().parents[1] / "isap" / "cli.py").read_text()
    assert ".write_bytes(" not in source and ".write_text(" not in source  # every file it writes is private


# ---------------------------------------------------------------------- demo data only where it belongs
def test_demo_data_is_refused_by_a_store_holding_real_users(service, db_url):
    from isap import demo

    with pytest.raises(Refused, match="not made by demo data"):
        demo.load(service)
    assert not service.has_user("ada") or service.user("ada").password_hash is None  # nothing added
    env = dict(os.environ, ISAP_DATABASE_URL=db_url)
    r = subprocess.run([sys.executable, "-m", "isap.cli", "demo", "load"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 1 and "not made by demo data" in r.stderr and "Traceback" not in r.stderr


def test_demo_data_loads_into_an_empty_store_and_again_into_its_own(db_url, tmp_path):
    from isap import demo
    from isap.store.db import engine_for
    from isap.store.files import FileStore

    svc = Service(engine_for(db_url), FileStore(tmp_path / "files"))
    assert demo.load(svc) is True
    assert demo.load(svc) is False  # already there: nothing added, nothing refused


# ---------------------------------------------------------------------- control characters before the store
def test_a_title_with_a_nul_is_kept_without_it(service, tmp_path):
    p = clean(1, reference=REF)
    p["Cover"]["proposal_title"] = "Dudley_x0000_ integrated_x001B_ care provider"
    p["Services"][0]["service_name"] = "Community_x0000_ nursing"
    result = service.upload("alice", "du\x00dley.xlsx", book(tmp_path, p))
    assert result.version == 1
    shown = service.show("alice", REF)
    assert shown["title"] == "Dudley integrated care provider"
    assert "\x00" not in shown["versions"][0]["filename"]


def test_a_header_with_a_nul_is_a_finding_the_store_can_keep(service, tmp_path):
    p = clean(1, reference=REF)
    for row in p["Services"]:
        row["surprise_x0000_column"] = "x"
    result = service.upload("alice", "w.xlsx", book(tmp_path, p))
    assert result.version == 1
    assert not any("\x00" in (f["column"] or "") + f["message"] for f in service.show("alice", REF)["findings"])


# ---------------------------------------------------------------------- bidirectional controls in outputs
HIDDEN = "Dudley \u202eredivorp\u202c care \u2066x\u2069 \u200f\u061c and\u200b\u2060\ufeff\u2028\u2029 more"
SHOWN = "\u202e\u202c\u2066\u2069\u200f\u061c\u200b\u2060\ufeff\u2028\u2029"


def test_bidirectional_controls_are_shown_visibly_in_the_report_and_mail(service, tmp_path):
    from isap.orchestration.notifications import MailSettings, build_message
    from isap.outputs.assurance_report import render_report

    p = clean(1, reference=REF)
    p["Cover"]["proposal_title"] = HIDDEN
    service.upload("alice", "v1.xlsx", book(tmp_path, p))
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Fine \u202eenif")
    html = render_report(service, "rita", REF, 1)
    for c in SHOWN:
        assert c not in html
    assert "⟨U+202E⟩redivorp⟨U+202C⟩" in html and "Fine ⟨U+202E⟩enif" in html
    assert "and⟨U+200B⟩⟨U+2060⟩⟨U+FEFF⟩⟨U+2028⟩⟨U+2029⟩ more" in html
    settings = MailSettings(host=None, outbox=tmp_path / "outbox")
    for row in service.outbox("ada"):
        msg = build_message(service, row, settings)
        text = msg.get_body(("plain",)).get_content() + str(msg["Subject"])
        assert not any(c in text for c in SHOWN), row["kind"]


needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils")


@needs_poppler
def test_the_pdf_shows_every_character_or_a_visible_replacement(service, tmp_path):
    from isap.outputs.letters import render_letter_pdf

    p = clean(1, reference=REF)
    p["Cover"]["proposal_title"] = "Care \u202eX\u202c with \u2a0c and \u9f8d here"  # ⨌ only STIX has; 龍 none
    service.upload("alice", "v1.xlsx", book(tmp_path, p))
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Fine")
    path = tmp_path / "letter.pdf"
    path.write_bytes(render_letter_pdf(service, "rita", REF, 1))
    text = " ".join(subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                                   check=True, text=True).stdout.split())
    assert "Care ⟨U+202E⟩X⟨U+202C⟩ with \u2a0c and □ here" in text


def test_the_dashboards_markdown_shows_bidirectional_controls_visibly():
    from isap.outputs.inert_markdown import inert_markdown

    shown = inert_markdown("Care \u202eredivorp\u202c")
    assert "\u202e" not in shown and "\u202c" not in shown and "⟨U\\+202E⟩redivorp⟨U\\+202C⟩" in shown


def test_a_nul_in_a_name_or_reference_is_an_ordinary_answer_never_a_database_failure(service):
    from isap.review.service import NotFound

    with pytest.raises(NotFound):
        service.user("al\x00ice")
    assert service.has_user("al\x00ice") is False
    with pytest.raises(NotFound):
        service.show("rita", "ISAP-2026-\x00014")
    with pytest.raises(NotFound):
        service.comment("ri\x00ta", REF, "hello")
    with pytest.raises(WorkflowError, match="e-mail address"):
        service.add_user("eve", "reviewer", email="eve\x00@nhs.net")
    org = service.add_organisation("Q\x00XX", "NHS\x00 Somewhere ICB")
    assert org.code == "QXX" and org.name == "NHS Somewhere ICB"


def test_the_command_line_shows_every_bidirectional_control_as_an_escape():
    """A right-to-left mark in a title would reorder what a terminal shows after it, as an override would."""
    from isap.cli import terminal_text
    from isap.text import SHOWN_AS_CODE_POINTS

    for c in sorted(SHOWN_AS_CODE_POINTS):
        shown = terminal_text(f"Evil{c} care")
        assert c not in shown and f"\\u{ord(c):04x}" in shown, hex(ord(c))
