"""Delivering the outbox: the messages the service queued, sent by SMTP or written to a folder.

The review layer writes each notification as a row in the same transaction as
the event that causes it, so no event is ever left untold and no message goes
out for an event that was rolled back.  This module sends those rows: it claims
one row at a time (a compare-and-set in the database, so two senders never take
the same row), builds the message (rendering the decision letter as PDF at this
point, through `isap.outputs.letters`), hands it to the transport and marks the
row sent.  A refusal worth retrying (a 4xx reply, a server that cannot be
reached) puts the row back with a growing pause; a permanent refusal (5xx)
marks it failed with the server's reason, for administrators to see, and so
does an address beyond ASCII that the server cannot take (it does not offer
SMTPUTF8): trying again would only be refused again.  Each address is checked
once more before it is sent to (`isap.policy.addresses`), so a row queued
before addresses were checked as they are now sends to plain addresses only.

A row whose sender died after claiming it is claimed again once its lease has
run out and sent again with the same Message-ID: delivery is at least once,
and a copy can only arise when the process died between the server accepting
the message and the row being marked (see docs/decisions/0020-notifications.md).

Transports:
- SMTP through the standard library, configured only by settings
  (ISAP_SMTP_HOST, ISAP_SMTP_PORT, ISAP_SMTP_STARTTLS, ISAP_SMTP_USER,
  ISAP_SMTP_PASSWORD, ISAP_MAIL_FROM);
- with no ISAP_SMTP_HOST, the `.eml` folder (ISAP_OUTBOX, default `outbox` in
  the data directory): the offline default of the embedded set-up, where a
  message already written is never written twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from isap.composition import data_dir
from isap.private import private_dir, write_private
from isap.review.service import SYSTEM_USER, Service, StoreBusy, WorkflowError
from isap.text import visible_marks

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
TRUE = frozenset({"1", "true", "yes", "on"})


class DeliveryError(Exception):
    """A message the transport could not hand over; `transient` when trying again later may succeed."""

    def __init__(self, reason: str, transient: bool):
        super().__init__(reason)
        self.transient = transient


@dataclass(frozen=True)
class MailSettings:
    """Where and how messages go; read from the environment, never written in code."""

    host: str | None = None
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "isap@localhost"
    timeout: float = 30.0
    outbox: Path | None = None
    lease_seconds: float = 300.0  # a claimed row whose sender went silent this long is claimed again
    retry_seconds: float = 60.0  # the first pause after a refusal worth retrying; doubled each time
    max_retry_seconds: float = 3600.0
    max_attempts: int = 10

    @classmethod
    def from_env(cls, env: dict | None = None) -> "MailSettings":
        env = os.environ if env is None else env

        def number(name: str, default: float, kind=float):
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if value < 0:
                raise ValueError(f"{name} cannot be negative")
            return value

        starttls = env.get("ISAP_SMTP_STARTTLS", "").strip().lower() in TRUE
        outbox = env.get("ISAP_OUTBOX", "").strip()
        return cls(
            host=env.get("ISAP_SMTP_HOST", "").strip() or None,
            port=number("ISAP_SMTP_PORT", 587 if starttls else 25, int),
            starttls=starttls,
            username=env.get("ISAP_SMTP_USER", "").strip() or None,
            password=env.get("ISAP_SMTP_PASSWORD") or None,
            sender=env.get("ISAP_MAIL_FROM", "").strip() or "isap@localhost",
            timeout=number("ISAP_SMTP_TIMEOUT", 30.0),
            outbox=Path(outbox) if outbox else None,
            lease_seconds=number("ISAP_NOTIFY_LEASE_SECONDS", 300.0),
            retry_seconds=number("ISAP_NOTIFY_RETRY_SECONDS", 60.0),
            max_attempts=max(1, number("ISAP_NOTIFY_MAX_ATTEMPTS", 10, int)),
        )

    def outbox_dir(self) -> Path:
        return private_dir(self.outbox or data_dir() / "outbox")  # messages name people and proposals


class SmtpTransport:
    """One SMTP connection for a delivery pass, opened when first needed and reopened after a failure."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        st = self.settings
        conn = smtplib.SMTP(st.host, st.port, timeout=st.timeout)
        try:
            if st.starttls:
                conn.starttls(context=ssl.create_default_context())
            if st.username:
                conn.login(st.username, st.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def send(self, msg: EmailMessage, row: dict) -> str:
        try:
            if self._conn is None:
                self._conn = self._connect()
            refused = self._conn.send_message(msg, from_addr=self.settings.sender, to_addrs=row["recipients"])
        except smtplib.SMTPNotSupportedError as exc:  # before any command: nothing was sent
            beyond_ascii = [a for a in row["recipients"] if not a.isascii()]
            if not beyond_ascii:
                raise DeliveryError(f"the mail server cannot take this message: {exc}", transient=False) from None
            raise DeliveryError(f"the mail server does not offer SMTPUTF8, which {', '.join(beyond_ascii)} "
                                "needs (an address beyond ASCII): it cannot take the message",
                                transient=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"every recipient was refused: {_replies(exc.recipients)}",
                                transient=any(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, authentication
            self.close_quietly(exc.smtp_code >= 500 or exc.smtp_code == 421)  # 421: the server is closing
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise DeliveryError(f"the mail server replied {exc.smtp_code} {text}",
                                transient=400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close_quietly(True)
            raise DeliveryError(f"cannot reach the mail server {self.settings.host}:{self.settings.port}: "
                                f"{type(exc).__name__}: {exc}", transient=True) from None
        if refused:
            return f"sent, but refused for {_replies(refused)}"
        return "sent"

    def close_quietly(self, drop: bool = True) -> None:
        if self._conn is None or not drop:
            return
        try:
            self._conn.quit()
        except (smtplib.SMTPException, OSError):
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        self.close_quietly(True)


def _replies(refused: dict) -> str:
    out = []
    for address, (code, text) in list(refused.items())[:5]:
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        out.append(f"{address} ({code} {text})")
    return "; ".join(out)


class FolderTransport:
    """Each message as an .eml file named after its event: written once, whatever reruns."""

    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, msg: EmailMessage, row: dict) -> str:
        path = self.folder / (SAFE_NAME.sub("_", row["key"])[:180] + ".eml")
        if path.exists():
            return "already in the folder"
        # an address beyond ASCII is written as it is (as SMTPUTF8 sends it), not as an encoded word
        data = msg.as_bytes(policy=msg.policy.clone(utf8=True)) if not msg["To"].isascii() else bytes(msg)
        try:
            write_private(path, data)  # 0600, whole or not at all
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc}", transient=True) from None
        return "written"

    def close(self) -> None:
        pass


def transport_for(settings: MailSettings):
    return SmtpTransport(settings) if settings.host else FolderTransport(settings.outbox_dir())


def build_message(service: Service, row: dict, settings: MailSettings, now: dt.datetime | None = None) -> EmailMessage:
    """The message for one outbox row; the decision letter is rendered now, as the store holds it."""
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(row["recipients"])
    # bidirectional controls in a title or rationale are shown as code points, so they cannot disguise the text
    msg["Subject"] = visible_marks(row["subject"])
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = row["message_id"]
    msg["X-ISAP-Event"] = row["kind"]
    msg.set_content(visible_marks(row["body"]))
    if row["attachment"] == "decision_letter":
        from isap.outputs.letters import render_letter_pdf

        # by the proposal's number: its reference alone may name proposals of several organisations
        named = f"#{row['proposal_id']}" if row.get("proposal_id") is not None else row["reference"]
        pdf = render_letter_pdf(service, SYSTEM_USER, named, row["checkpoint"])
        msg.add_attachment(pdf, maintype="application", subtype="pdf",
                           filename=f"{row['reference']}-checkpoint-{row['checkpoint']}-decision-letter.pdf")
    return msg


def backoff(settings: MailSettings, attempts: int) -> float:
    return min(settings.max_retry_seconds, settings.retry_seconds * 2 ** max(0, attempts - 1))


def deliver(service: Service, settings: MailSettings | None = None, limit: int = 200, transport=None) -> dict:
    """One delivery pass: up to `limit` due messages, each claimed, sent and marked in turn.

    Returns how many were sent, put back for a retry, and failed for good.
    Database trouble (StoreBusy) is raised for the caller to retry the pass;
    nothing else stops it.
    """
    settings = settings or MailSettings.from_env()
    transport = transport or transport_for(settings)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    try:
        for _ in range(limit):
            claimed = service.claim_notifications(1, settings.lease_seconds)
            if not claimed:
                break
            row = claimed[0]
            outcome = _deliver_one(service, settings, transport, row)
            counts[outcome] += 1
    finally:
        transport.close()
    return counts


def _deliver_one(service: Service, settings: MailSettings, transport, row: dict) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    row, refused = _plain_recipients(row)
    if not row["recipients"]:
        return _failed(service, settings, row, f"nobody to send it to: {'; '.join(refused)}", False, now)
    try:
        msg = build_message(service, row, settings, now)
    except StoreBusy as exc:
        return _failed(service, settings, row, f"the decision letter could not be made yet: {exc}", True, now)
    except (WorkflowError, ValueError, OSError, RuntimeError) as exc:
        return _failed(service, settings, row, f"the message could not be made: {exc}", False, now)
    try:
        how = transport.send(msg, row)
    except DeliveryError as exc:
        return _failed(service, settings, row, str(exc), exc.transient, now)
    # who was not sent it stays on the row for administrators: an address refused by the server or by isap
    not_sent = [how] if how.startswith("sent, but") else []
    not_sent += [f"not sent to {r}" for r in refused]
    service.notification_sent(row["id"], f"attempt {row['attempts']}: {'; '.join(not_sent)}" if not_sent else None)
    log.info("notification %s %s: %s", row["id"], row["kind"], how)
    return "sent"


def _plain_recipients(row: dict) -> tuple[dict, list[str]]:
    """The row with only its plain addresses left (`isap.policy.addresses`), and each one dropped and why."""
    from isap.policy.addresses import AddressRefused, mail_address

    kept, refused = [], []
    for address in row["recipients"]:
        try:
            kept.append(mail_address(address))
        except AddressRefused as exc:
            refused.append(f"{address!r}, not a plain e-mail address ({exc})")
    return {**row, "recipients": kept}, refused


def _failed(service: Service, settings: MailSettings, row: dict, reason: str, transient: bool,
            now: dt.datetime) -> str:
    if transient and row["attempts"] < settings.max_attempts:
        retry_at = now + dt.timedelta(seconds=backoff(settings, row["attempts"]))
        service.notification_failed(row["id"], f"attempt {row['attempts']}: {reason}", retry_at)
        log.warning("notification %s: %s; trying again after %s", row["id"], reason, retry_at.isoformat())
        return "retry"
    service.notification_failed(row["id"], f"attempt {row['attempts']}: {reason}", None)
    log.error("notification %s failed: %s", row["id"], reason)
    return "failed"
