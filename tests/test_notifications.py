"""Notifications: queued in the outbox with their event, delivered to a real SMTP server on loopback.

The mail server is aiosmtpd, started on a free loopback port for each test; it
records what it accepted, and can refuse (4xx, 5xx) or hold a message while
the test kills the process sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sample_submissions.proposals import clean, write
from tests.panel import decide, take

ROOT = Path(__file__).resolve().parent.parent
REF = "ISAP-2026-041"
RATINGS = dict.fromkeys(("capitalisation", "transparency", "service_scope", "relationships", "governance"), "green")
BASE = "https://isap.example.nhs.uk"
CONTACT = "icp.programme@nhs.net"  # the sample workbook's Cover contact


# ---------------------------------------------------------------------- a real SMTP server on loopback
class Mailbox:
    """What the server accepted; `refuse` replies to the next DATA commands; `hold` keeps the n-th message
    unanswered until `release` is set (the sender is killed meanwhile, so the message is never accepted)."""

    def __init__(self):
        self.accepted: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse: list[str] = []
        self.refuse_recipients: dict[str, str] = {}  # address -> the reply to its RCPT command
        self.hold: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.seen = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse_recipients.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.seen += 1
            n = self.seen
            reply = self.refuse.pop(0) if self.refuse else None
        if reply:
            return reply
        if self.hold == n:
            self.holding.set()
            for _ in range(600):
                if self.release.is_set():
                    break
                await asyncio.sleep(0.05)
            return "451 4.3.0 the sender went away"
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.accepted.append((list(envelope.rcpt_tos), msg))
        return "250 2.0.0 OK"

    def ids(self) -> list[str]:
        return [m["Message-ID"] for _, m in self.accepted]

    def by_event(self, kind: str) -> list[tuple[list[str], email.message.EmailMessage]]:
        return [(to, m) for to, m in self.accepted if m["X-ISAP-Event"] == kind]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=[False], ids=["ascii"])
def smtp(request):
    """The server; parametrised indirectly with True, it offers SMTPUTF8 (addresses beyond ASCII)."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=request.param)
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        box.release.set()
        controller.stop()


def settings_for(box: Mailbox, **overrides):
    from isap.orchestration.notifications import MailSettings

    values = dict(host="127.0.0.1", port=box.port, sender="isap@england.nhs.uk", timeout=10, retry_seconds=0,
                  lease_seconds=300)
    values.update(overrides)
    return MailSettings(**values)


# ---------------------------------------------------------------------- the workflow, through the environment
@pytest.fixture
def env(tmp_path, monkeypatch, migrated_sqlite):
    from isap.review.service import Service
    from tests.conftest import migrated_data_dir

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ISAP_BASE_URL", BASE)
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    for name in ("ISAP_SMTP_HOST", "ISAP_OUTBOX", "ISAP_SMTP_PORT", "ISAP_NOTIFY_LEASE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    migrated_data_dir(migrated_sqlite, tmp_path / "data")
    svc = Service(base_url=BASE)
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_organisation("QHM", "NHS North East and North Cumbria ICB")
    svc.add_user("alice", "commissioner", "QUA", email="alice@blackcountry.nhs.uk")
    svc.add_user("carol", "commissioner", "QUA", email="carol@blackcountry.nhs.uk")
    svc.add_user("otto", "commissioner", "QHM", email="otto@northeast.nhs.uk")
    svc.add_user("rita", "reviewer", email="rita@england.nhs.uk")
    svc.add_user("ada", "admin")
    return svc


def decided(svc, tmp_path, conditions=()):
    from isap.review.service import ConditionInput

    svc.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    svc.submit("alice", REF)
    take(svc, "rita", REF)
    outcome = "approved_with_conditions" if conditions else "approved"
    decide(svc, "rita", REF, outcome, RATINGS, "A sound case for change.",
               [ConditionInput(*c) for c in conditions])


def outbox(svc) -> dict[str, dict]:
    return {r["kind"]: r for r in svc.outbox("ada")}


# ---------------------------------------------------------------------- queued with the event
def test_every_event_queues_its_message_to_the_right_people_in_plain_words(env, tmp_path):
    due = dt.date(2027, 3, 1)
    decided(env, tmp_path, [("Publish the conflicts register", "gov@blackcountry.nhs.uk", due)])
    rows = outbox(env)
    assert set(rows) == {"version_checked", "submitted", "taken_into_review", "decision_proposed",
                         "decision_recorded", "decision_countersigned"}
    # the lead who proposed the decision hears that it has taken effect
    assert rows["decision_countersigned"]["recipients"] == ["rita@england.nhs.uk"]
    assert rows["version_checked"]["recipients"] == [CONTACT]
    # the proposed decision is the other reviewers' to countersign; the commissioner hears at countersignature
    assert rows["decision_proposed"]["recipients"] == ["nina@improvement.nhs.uk"]
    assert rows["submitted"]["recipients"] == ["rita@england.nhs.uk"]
    assert rows["taken_into_review"]["recipients"] == [CONTACT]
    assert rows["decision_recorded"]["recipients"] == [CONTACT, "alice@blackcountry.nhs.uk",
                                                       "carol@blackcountry.nhs.uk"]
    assert rows["decision_recorded"]["attachment"] == "decision_letter"
    assert rows["decision_recorded"]["checkpoint"] == 1
    assert rows["decision_recorded"]["subject"] == (
        f"{REF}: decision at checkpoint 1 (strategic case): Approved with conditions")
    body = rows["decision_recorded"]["body"]
    assert "Publish the conflicts register" in body and "due Monday 1 March 2027" in body
    for r in rows.values():
        assert f"{BASE}/proposal?ref={REF}" in r["body"]
        assert r["status"] == "pending" and r["message_id"].startswith("<") and r["reference"] == REF
        # no internal names: no state, outcome or event identifiers in what people read
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", r["subject"] + r["body"].replace(BASE, "")), r["kind"]


def test_a_disabled_account_is_sent_no_mail_about_proposals(env, tmp_path):
    """A commissioner disabled before the decision still received its letter, with the reviewer's rationale,
    and a disabled reviewer every submission notice: an account whose access was taken away gets no mail."""
    env.add_user("rex", "reviewer", email="rex@england.nhs.uk")
    env.disable_user("carol", actor="ada")
    env.disable_user("rex", actor="ada")
    decided(env, tmp_path)
    rows = outbox(env)
    assert rows["submitted"]["recipients"] == ["rita@england.nhs.uk"]
    assert rows["decision_recorded"]["recipients"] == [CONTACT, "alice@blackcountry.nhs.uk"]
    assert not any(a in r["recipients"] for r in rows.values() for a in ("rex@england.nhs.uk",
                                                                       "carol@blackcountry.nhs.uk"))


def test_a_refused_action_queues_nothing(env, tmp_path):
    from isap.review.service import Conflict

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    stale = env.show("alice", REF)["version"] - 1
    with pytest.raises(Conflict):
        env.submit("alice", REF, expected_version=stale)
    assert set(outbox(env)) == {"version_checked"}
    # the same bytes again are no new version, so no second message either
    env.upload("alice", "again.xlsx", (tmp_path / "v1.xlsx").read_bytes())
    assert len(env.outbox("ada")) == 1


def test_a_contact_outside_the_mail_domains_never_becomes_the_contact_and_is_sent_nothing(env, tmp_path):
    """Any commissioner can put any address on the Cover: one outside policy `mail_domains` is GOV004 on the
    version, is not taken as the proposal's contact, and is sent nothing; the contact before it still is."""
    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    p = clean(1, reference=REF)
    p["Cover"]["contact_email"] = "victim@evil.example"
    p["Cover"]["proposal_title"] = "Changed"
    result = env.upload("alice", "v2.xlsx", write(p, tmp_path / "v2.xlsx").read_bytes())
    assert result.version == 2 and "GOV004" in {f["rule_id"] for f in result.report["findings"]}
    rows = [r for r in env.outbox("ada") if r["kind"] == "version_checked"]
    assert [r["recipients"] for r in rows] == [[CONTACT], [CONTACT]]
    assert not any("evil.example" in a for r in env.outbox("ada") for a in r["recipients"])


def upload_with_contact(svc, tmp_path, name: str, contact: str, reference: str = REF):
    p = clean(1, reference=reference)
    p["Cover"]["contact_email"] = contact
    p["Cover"]["proposal_title"] = f"Dudley integrated care provider ({name})"  # each file's bytes differ
    return svc.upload("alice", name, write(p, tmp_path / name).read_bytes())


# ---------------------------------------------------------------------- which addresses are addresses
@pytest.mark.parametrize("text", [
    "group:victim@evil.example", "group:victim@nhs.net", "icp.lead@nhs.net\x7f", "icp\x7flead@nhs.net",
    "Ann Lee <ann.lee@nhs.net>", "ann.lee@nhs.net, eve@evil.example", "ann.lee@nhs.net\r\nBcc: eve@evil.example",
    "ann..lee@nhs.net", "ann.lee@nhs.net.", "ann.lee@[127.0.0.1]", "ann.lee@localhost", "ann.lee", "",
    "x" * 250 + "@nhs.net",
    # a route to another mailbox, which some mail servers still follow (the "percent hack", a UUCP bang path)
    "x%evil.example@nhs.net", "evil.example!x@nhs.net",
])
def test_only_a_plain_address_is_one_isap_sends_mail_to(text):
    from isap.policy import Policy
    from isap.policy.addresses import AddressRefused, mail_address

    with pytest.raises(AddressRefused) as refused:
        mail_address(text)
    assert str(refused.value)  # says why, in words
    assert not Policy().sends_mail_to(text)


@pytest.mark.parametrize("text,normal", [
    ("icp.programme@nhs.net", "icp.programme@nhs.net"), ("Ann.Lee@Trust.NHS.UK", "Ann.Lee@trust.nhs.uk"),
    (" ann.lee@nhs.net ", "ann.lee@nhs.net"), ("josé.garcía@nhs.net", "josé.garcía@nhs.net"),
])
def test_a_plain_address_is_kept_in_its_normal_form(text, normal):
    from isap.policy import Policy
    from isap.policy.addresses import mail_address

    assert mail_address(text) == normal
    assert Policy().sends_mail_to(text)


def test_an_account_address_that_is_not_a_plain_address_is_refused_clearly(env):
    from isap.review.service import WorkflowError

    with pytest.raises(WorkflowError, match="is not an e-mail address isap can send to"):
        env.add_user("dave", "commissioner", "QUA", email="dave@blackcountry.nhs.uk\x7f")
    env.add_user("dave", "commissioner", "QUA", email="Dave@BlackCountry.nhs.uk")
    assert {u["username"]: u["email"] for u in env.users("ada")}["dave"] == "Dave@blackcountry.nhs.uk"


@pytest.mark.parametrize("contact", ["group:victim@nhs.net", "icp.lead\x7f@nhs.net"])
def test_a_contact_that_is_no_plain_address_is_gov004_and_never_the_contact(env, tmp_path, contact):
    """The loose format of the template (SCH005) lets these through; isap sends them nothing: GOV004 says so,
    the contact before stays the contact, and the version's message goes to that contact alone."""
    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    result = upload_with_contact(env, tmp_path, "v2.xlsx", contact)
    [gov004] = [f for f in result.report["findings"] if f["rule_id"] == "GOV004"]
    assert "is not a plain e-mail address" in gov004["message"]
    assert "SCH005" not in {f["rule_id"] for f in result.report["findings"]}
    assert env.show("rita", REF)["contact"]["address"] == CONTACT
    assert [r["recipients"] for r in env.outbox("ada")] == [[CONTACT], [CONTACT]]
    assert "contact_changed" not in {h["action"] for h in env.show("rita", REF)["history"]}


# ---------------------------------------------------------------------- a contact that changes
def test_a_changed_contact_is_recorded_shown_and_the_previous_contact_is_told(env, tmp_path):
    from isap.review.service import ConditionInput

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    upload_with_contact(env, tmp_path, "v2.xlsx", "New.Lead@nhs.net")
    shown = env.show("rita", REF)
    [change] = [h for h in shown["history"] if h["action"] == "contact_changed"]
    assert change["actor"] == "alice"
    assert change["reason"] == f"version 2 changed the contact from {CONTACT} to New.Lead@nhs.net"
    assert shown["contact"] == {"address": "New.Lead@nhs.net", "change": change["reason"],
                                "changed_at": change["at"]}
    [told] = [r for r in env.outbox("ada") if r["kind"] == "contact_changed"]
    assert told["recipients"] == [CONTACT]
    assert told["subject"] == f"{REF}: the contact for this proposal has changed"
    assert "New.Lead@nhs.net" in told["body"] and "alice" in told["body"]
    assert "no longer" in told["body"] and f"{BASE}/proposal?ref={REF}" in told["body"]
    checked = [r["recipients"] for r in env.outbox("ada") if r["kind"] == "version_checked"]
    assert sorted(checked) == sorted([[CONTACT], ["New.Lead@nhs.net"]])
    # the decision letter, with the reviewer's reasons, goes to the contact now, not the one before
    env.submit("alice", REF)
    take(env, "rita", REF)
    decide(env, "rita", REF, "approved_with_conditions", RATINGS, "A sound case.",
               [ConditionInput("Publish the register", "gov@blackcountry.nhs.uk", dt.date(2027, 3, 1))])
    assert outbox(env)["decision_recorded"]["recipients"] == ["New.Lead@nhs.net", "alice@blackcountry.nhs.uk",
                                                              "carol@blackcountry.nhs.uk"]
    # the same address again, in another case, is no change
    upload_with_contact(env, tmp_path, "v3.xlsx", "new.lead@NHS.NET")
    assert [h["action"] for h in env.show("rita", REF)["history"]].count("contact_changed") == 1


def test_a_first_contact_is_recorded_and_nobody_before_is_told(env, tmp_path):
    upload_with_contact(env, tmp_path, "v1.xlsx", "lead@evil.example")  # GOV004: no contact
    assert env.show("rita", REF)["contact"] == {"address": None, "change": None, "changed_at": None}
    upload_with_contact(env, tmp_path, "v2.xlsx", CONTACT)
    [change] = [h for h in env.show("rita", REF)["history"] if h["action"] == "contact_changed"]
    assert change["reason"] == f"version 2 gave the contact {CONTACT} (there was none before)"
    assert "contact_changed" not in outbox(env)


def test_mail_goes_to_the_contact_only_while_it_is_within_the_mail_domains(env, tmp_path):
    """The policy may narrow after a contact was taken: from then on the contact is sent nothing, and a contact
    that changes is told only where isap sends mail."""
    from isap.policy import Policy
    from isap.review.service import Service

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    narrowed = Service(base_url=BASE, policy=Policy(mail_domains=["nhs.uk"]))
    upload_with_contact(narrowed, tmp_path, "v2.xlsx", "lead@trust.nhs.uk")
    assert narrowed.show("rita", REF)["contact"]["address"] == "lead@trust.nhs.uk"
    told = [r for r in narrowed.outbox("ada") if r["kind"] == "contact_changed"]
    assert [(r["recipients"], r["status"]) for r in told] == [([], "failed")]
    assert CONTACT in told[0]["last_error"]
    assert "contact_changed" in {h["action"] for h in narrowed.show("rita", REF)["history"]}
    other = "ISAP-2026-042"
    upload_with_contact(env, tmp_path, "o.xlsx", CONTACT, reference=other)  # nhs.net, under the wide policy
    narrowed.submit("alice", other)
    take(narrowed, "rita", other)
    decide(narrowed, "rita", other, "approved", RATINGS, "A sound case.")
    rows = {r["kind"]: r for r in narrowed.outbox("ada") if r["reference"] == other}
    assert rows["decision_recorded"]["recipients"] == ["alice@blackcountry.nhs.uk", "carol@blackcountry.nhs.uk"]
    assert rows["taken_into_review"]["recipients"] == []


def test_only_administrators_see_the_outbox(env):
    from isap.review.service import Forbidden

    for who in ("alice", "rita"):
        with pytest.raises(Forbidden):
            env.outbox(who)


def test_reminders_are_queued_once_each(env, tmp_path):
    from isap.orchestration.steps import reminders

    # due Thursday 7 January 2027: 5 working days after Christmas week's Wednesday 30 December (Friday 1 January
    # is a bank holiday), so it is "due soon" on 30 December and overdue from 8 January
    decided(env, tmp_path, [("Publish the conflicts register", "gov@blackcountry.nhs.uk", dt.date(2027, 1, 7))])
    assert reminders(env, dt.date(2026, 12, 29)) == []
    [soon] = reminders(env, dt.date(2026, 12, 30))
    assert soon["kind"] == "condition_due_soon" and reminders(env, dt.date(2026, 12, 31)) == []
    row = outbox(env)["condition_due_soon"]
    assert row["recipients"] == ["gov@blackcountry.nhs.uk", CONTACT]
    assert "in 5 working days" in row["subject"] and "Thursday 7 January 2027" in row["body"]
    [late] = reminders(env, dt.date(2027, 1, 8))
    assert late["kind"] == "condition_overdue" and reminders(env, dt.date(2027, 1, 20)) == []
    other = "ISAP-2026-042"
    env.upload("alice", "o.xlsx", write(clean(1, reference=other), tmp_path / "o.xlsx").read_bytes())
    env.submit("alice", other)
    since = dt.date.today()
    assert [r["kind"] for r in reminders(env, since + dt.timedelta(days=60))] == ["review_overdue"]
    assert reminders(env, since + dt.timedelta(days=61)) == []
    overdue = outbox(env)["review_overdue"]
    assert overdue["reference"] == other
    assert overdue["recipients"] == ["rita@england.nhs.uk", "nina@improvement.nhs.uk"]  # the panel
    assert "working days for its review" in overdue["subject"]


# ---------------------------------------------------------------------- delivered by SMTP
def test_the_decision_reaches_the_commissioners_mailbox_with_its_letter(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    decided(env, tmp_path, [("Publish the conflicts register", "gov@blackcountry.nhs.uk", dt.date(2027, 3, 1))])
    counts = deliver(env, settings_for(smtp))
    # version checked, submitted, taken into review, decision proposed (to the second reviewer), decision recorded,
    # and its countersignature (to the lead who proposed it)
    assert counts == {"sent": 6, "retry": 0, "failed": 0}
    [(to, msg)] = smtp.by_event("decision_recorded")
    assert sorted(to) == sorted([CONTACT, "alice@blackcountry.nhs.uk", "carol@blackcountry.nhs.uk"])
    assert msg["From"] == "isap@england.nhs.uk"
    assert msg["Subject"] == f"{REF}: decision at checkpoint 1 (strategic case): Approved with conditions"
    assert f"{BASE}/proposal?ref={REF}" in msg.get_body(("plain",)).get_content()
    [pdf] = list(msg.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"{REF}-checkpoint-1-decision-letter.pdf"
    data = pdf.get_content()
    assert data.startswith(b"%PDF")
    (tmp_path / "letter.pdf").write_bytes(data)
    text = subprocess.run(["pdftotext", str(tmp_path / "letter.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert REF in text and "Publish the conflicts register" in " ".join(text.split())
    [(to, _)] = smtp.by_event("submitted")
    assert to == ["rita@england.nhs.uk"]
    assert {r["status"] for r in env.outbox("ada")} == {"sent"}
    assert deliver(env, settings_for(smtp)) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(smtp.accepted) == 6


def test_a_server_refusing_for_a_while_loses_nothing_and_sends_nothing_twice(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    decided(env, tmp_path)
    smtp.refuse = ["451 4.3.0 mailbox busy, try later"] * 5
    settings = settings_for(smtp)
    passes = []
    for _ in range(10):
        passes.append(deliver(env, settings))
        if not any(r["status"] == "pending" for r in env.outbox("ada")):
            break
    assert passes[0]["retry"] > 0 and sum(p["sent"] for p in passes) == 6
    assert sum(p["failed"] for p in passes) == 0
    rows = env.outbox("ada")
    assert {r["status"] for r in rows} == {"sent"}
    assert sorted(smtp.ids()) == sorted(r["message_id"] for r in rows)  # each once
    assert sum(r["attempts"] for r in rows) == 6 + 5  # each message once, and the five refused attempts


def test_the_backoff_waits_before_trying_again(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    smtp.refuse = ["421 4.7.0 try again later"]
    settings = settings_for(smtp, retry_seconds=3600)
    assert deliver(env, settings) == {"sent": 0, "retry": 1, "failed": 0}
    assert deliver(env, settings) == {"sent": 0, "retry": 0, "failed": 0}  # not due again for an hour
    [row] = env.outbox("ada")
    assert row["status"] == "pending" and "421" in row["last_error"] and smtp.accepted == []


def test_a_permanent_refusal_is_failed_with_the_reason(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    smtp.refuse = ["554 5.7.1 message rejected as spam"]
    assert deliver(env, settings_for(smtp)) == {"sent": 0, "retry": 0, "failed": 1}
    [row] = env.outbox("ada")
    assert row["status"] == "failed" and "554" in row["last_error"] and "rejected as spam" in row["last_error"]
    assert env.outbox_counts()["failed"] == 1


def test_a_recipient_the_server_refuses_for_good_fails_at_once_with_the_reason(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    smtp.refuse_recipients[CONTACT] = "550 5.1.1 no such mailbox here"
    assert deliver(env, settings_for(smtp)) == {"sent": 0, "retry": 0, "failed": 1}
    [row] = env.outbox("ada")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert CONTACT in row["last_error"] and "550 5.1.1 no such mailbox here" in row["last_error"]
    assert smtp.accepted == []


def test_a_recipient_refused_among_others_is_recorded_on_the_sent_message(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    decided(env, tmp_path)
    smtp.refuse_recipients["carol@blackcountry.nhs.uk"] = "550 5.1.1 no such mailbox here"
    assert deliver(env, settings_for(smtp)) == {"sent": 6, "retry": 0, "failed": 0}
    [(to, _)] = smtp.by_event("decision_recorded")
    assert sorted(to) == sorted([CONTACT, "alice@blackcountry.nhs.uk"])
    row = outbox(env)["decision_recorded"]
    assert row["status"] == "sent"
    assert "carol@blackcountry.nhs.uk" in row["last_error"] and "550" in row["last_error"]


def test_an_address_beyond_ascii_fails_at_once_where_the_server_cannot_take_it(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    upload_with_contact(env, tmp_path, "v1.xlsx", "josé.garcía@nhs.net")
    assert deliver(env, settings_for(smtp)) == {"sent": 0, "retry": 0, "failed": 1}
    [row] = env.outbox("ada")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "josé.garcía@nhs.net" in row["last_error"] and "SMTPUTF8" in row["last_error"]
    assert "cannot reach" not in row["last_error"]


@pytest.mark.parametrize("smtp", [True], ids=["smtputf8"], indirect=True)
def test_an_address_beyond_ascii_is_delivered_where_the_server_takes_it(env, tmp_path, smtp):
    from isap.orchestration.notifications import deliver

    upload_with_contact(env, tmp_path, "v1.xlsx", "josé.garcía@nhs.net")
    assert deliver(env, settings_for(smtp)) == {"sent": 1, "retry": 0, "failed": 0}
    [(to, msg)] = smtp.accepted
    assert to == ["josé.garcía@nhs.net"] and msg["To"] == "josé.garcía@nhs.net"


def test_a_queued_address_that_is_not_plain_is_never_sent_to(env, tmp_path, smtp):
    """Messages queued before addresses were checked as they are now: at delivery, each address is checked
    again; a message left with nobody fails at once, saying which address was refused and why."""
    from sqlmodel import Session, select

    from isap.orchestration.notifications import deliver
    from isap.store.models import Notification

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    with Session(env.engine) as s:
        row = s.exec(select(Notification)).one()
        row.recipients = "a@b.example\x7f\ngroup:victim@evil.example"
        s.add(row)
        s.commit()
    assert deliver(env, settings_for(smtp)) == {"sent": 0, "retry": 0, "failed": 1}
    [row] = env.outbox("ada")
    assert row["status"] == "failed" and "group:victim@evil.example" in row["last_error"]
    assert smtp.accepted == []


def test_an_unreachable_server_is_retried_later(env, tmp_path):
    from isap.orchestration.notifications import MailSettings, deliver

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    settings = MailSettings(host="127.0.0.1", port=free_port(), timeout=5, retry_seconds=60)
    assert deliver(env, settings) == {"sent": 0, "retry": 1, "failed": 0}
    [row] = env.outbox("ada")
    assert row["status"] == "pending" and "cannot reach the mail server" in row["last_error"]


def test_the_delivery_flow_sends_the_outbox(prefect_harness, env, tmp_path, smtp, monkeypatch):
    from isap.orchestration.flows import deliver_notifications

    env.upload("alice", "v1.xlsx", write(clean(1, reference=REF), tmp_path / "v1.xlsx").read_bytes())
    monkeypatch.setenv("ISAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ISAP_SMTP_PORT", str(smtp.port))
    assert deliver_notifications() == {"sent": 1, "retry": 0, "failed": 0}
    [(to, msg)] = smtp.accepted
    assert to == [CONTACT] and msg["Subject"] == f"{REF} version 1 checked: 0 errors, 0 warnings"
    assert deliver_notifications() == {"sent": 0, "retry": 0, "failed": 0}


def _cli(args, extra):
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    return subprocess.Popen([sys.executable, "-m", "isap.cli", *args], env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.e2e  # a sending process killed from outside
def test_a_sender_killed_mid_batch_leaves_the_rest_to_the_rerun_once(env, tmp_path, smtp):
    decided(env, tmp_path)
    env.upload("alice", "other.xlsx", write(clean(1, reference="ISAP-2026-042"), tmp_path / "o.xlsx").read_bytes())
    rows = env.outbox("ada")
    assert len(rows) == 7  # with the decision proposed to the second reviewer and its countersignature to the lead
    smtp.hold = 3
    mail = {"ISAP_SMTP_HOST": "127.0.0.1", "ISAP_SMTP_PORT": str(smtp.port), "ISAP_MAIL_FROM": "isap@england.nhs.uk"}
    proc = _cli(["notify", "send"], mail)
    try:
        assert smtp.holding.wait(120), proc.communicate(timeout=5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.communicate()
    smtp.release.set()
    assert len(smtp.accepted) == 2
    counts = env.outbox_counts()
    assert (counts["sent"], counts["sending"], counts["pending"]) == (2, 1, 4)
    # the rerun: with the lease in force the message the dead sender held waits; once it runs out, it goes
    rerun = _cli(["notify", "send"], mail)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert out.strip() == "Sent 4, to retry later 0, failed 0"
    rerun = _cli(["notify", "send"], {**mail, "ISAP_NOTIFY_LEASE_SECONDS": "0"})
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert out.strip() == "Sent 1, to retry later 0, failed 0"
    rows = env.outbox("ada")
    assert {r["status"] for r in rows} == {"sent"}
    assert sorted(smtp.ids()) == sorted(r["message_id"] for r in rows)  # every message exactly once


# ---------------------------------------------------------------------- the offline folder
def test_without_a_mail_server_messages_are_written_once_to_the_folder(env, tmp_path):
    decided(env, tmp_path)
    first = _cli(["notify", "send"], {})
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert out.strip() == "Sent 6, to retry later 0, failed 0"
    folder = tmp_path / "data" / "outbox"
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 6
    letter = next(f for f in files if f.name.startswith("decided"))
    msg = email.message_from_bytes(letter.read_bytes(), policy=email.policy.default)
    [pdf] = list(msg.iter_attachments())
    assert pdf.get_content().startswith(b"%PDF")
    again = _cli(["notify", "send"], {})
    assert again.communicate(timeout=120)[0].strip() == "Sent 0, to retry later 0, failed 0"
    assert sorted(folder.glob("*.eml")) == files


def test_settings_that_cannot_be_used_are_refused_clearly(env):
    proc = _cli(["notify", "send"], {"ISAP_SMTP_HOST": "127.0.0.1", "ISAP_SMTP_PORT": "twenty-five"})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "ISAP_SMTP_PORT='twenty-five' is not a number" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------- the checkpoint's own audit trail
def test_the_checkpoint_report_holds_its_decision_and_conditions(env, tmp_path):
    from isap.outputs.assurance_report import report_context
    from isap.review.service import NotFound

    decided(env, tmp_path, [("Publish the conflicts register", "gov@blackcountry.nhs.uk", dt.date(2027, 3, 1))])
    first = [h["action"] for h in report_context(env, "rita", REF, 1)["history"]]
    assert "decide:approved_with_conditions" in first and "condition_raised" in first
    assert first[-2:] == ["decide:approved_with_conditions", "condition_raised"]
    # the proposal itself has moved on to checkpoint 2, where nothing has happened yet
    assert env.show("rita", REF)["checkpoint"] == 2
    with pytest.raises(NotFound):
        report_context(env, "rita", REF, 2)


# ---------------------------------------------------------------------- the administrators' page
def test_administrators_see_the_outbox_on_the_dashboard(tmp_path, monkeypatch, prefect_harness):
    import streamlit as st

    from isap.demo import load
    from isap.orchestration.notifications import MailSettings, deliver
    from isap.review.service import Service
    from isap.store.db import upgrade
    from tests.test_dashboard import signed_in

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    upgrade()
    svc = Service()
    load(svc)
    queued = len(svc.outbox("ada"))
    assert queued > 0
    # one pass against a server that is not there, allowed one attempt: each message fails, with the reason
    deliver(svc, MailSettings(host="127.0.0.1", port=free_port(), timeout=5, max_attempts=1), limit=1)
    st.cache_resource.clear()
    try:
        at = signed_in("ada", "ada-demo")
        at.switch_page("views/outbox.py")
        at.run()
        assert not at.exception, at.exception
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Failed"] == "1" and metrics["Waiting to be sent"] == str(queued - 1)
        frame = at.dataframe[0].value
        failed = frame[frame["Status"] == "Failed"]
        assert len(failed) == 1 and "cannot reach the mail server" in failed["Reason"].iloc[0]
        assert set(frame["Status"]) == {"Failed", "Waiting to be sent"}
        rita = signed_in("rita", "rita-demo")
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            rita.switch_page("views/outbox.py")  # a reviewer's navigation has no outbox
    finally:
        st.cache_resource.clear()


def test_due_soon_is_the_policy_value_for_reminders_and_the_dashboard(env, tmp_path):
    """One "due soon": the policy's working days decide both the reminder and the dashboard's mark."""
    from isap.policy import Policy
    from isap.review.lifecycle import ConditionStatus, condition_due_soon
    from isap.review.service import Service

    # due Thursday 7 January 2027: 6 working days after Tuesday 29 December (Friday 1 January is a bank holiday)
    due = dt.date(2027, 1, 7)
    decided(env, tmp_path, [("Publish the conflicts register", "gov@blackcountry.nhs.uk", due)])
    wide = Policy(condition_due_soon_working_days=6)
    assert [r["kind"] for r in Service(base_url=BASE, policy=wide).remind(dt.date(2026, 12, 29))] == [
        "condition_due_soon"]
    assert condition_due_soon(due, ConditionStatus.OPEN, dt.date(2026, 12, 29), wide)
    assert not condition_due_soon(due, ConditionStatus.OPEN, dt.date(2026, 12, 29), Policy())
    assert condition_due_soon(due, ConditionStatus.OPEN, dt.date(2026, 12, 30), Policy())
    # overdue and closed conditions are not "due soon"
    assert not condition_due_soon(due, ConditionStatus.OPEN, dt.date(2027, 1, 8), wide)
    assert not condition_due_soon(due, ConditionStatus.DISCHARGED, dt.date(2027, 1, 6), wide)
