"""Anchors: the audit chain's head, signed with a key the database does not hold, and kept outside it.

The hash chain (`audit_chain`) shows that the history is consistent with
itself, but whoever owns the database can rewrite an event, or cut the tail,
and recompute every later hash: the chain is then consistent again.  What
such a rewrite cannot do is change what has already left the database.  So
the head is anchored: (event id, head hash, time, why) is signed with an
Ed25519 key kept in a file on the machines that run isap (the dashboard and
the workers, `ISAP_AUDIT_KEY`), and the signed anchor is appended to a file
of anchors (`ISAP_AUDIT_ANCHORS`), mailed where the installation says, and
printed on every assurance report and decision letter.  `isap audit verify
--anchors FILE` then proves that every anchored event is still in the
history, at its place, with its hash: nothing up to it was changed or removed.
A signature made with the key shows that the anchor was made by isap, not
typed in by whoever wants a rewritten chain to pass.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from isap.review.errors import WorkflowError

ANCHOR_FORMAT = "isap-audit-anchor-1"
KEY_ENV = "ISAP_AUDIT_KEY"  # the private key file (PEM), on the dashboard's and the workers' machines
PUBLIC_KEY_ENV = "ISAP_AUDIT_PUBLIC_KEY"  # the public key file, for whoever only verifies
ANCHORS_ENV = "ISAP_AUDIT_ANCHORS"  # the file anchors are appended to (default: <data dir>/audit-anchors.jsonl)
ANCHOR_TO_ENV = "ISAP_AUDIT_ANCHOR_TO"  # addresses the daily anchor is mailed to, comma-separated


class AnchorError(WorkflowError):
    """A key or anchors file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Anchor:
    """The head of the chain at one moment: the last event's id and hash, when, why, and the signature."""

    event_id: int
    head: str
    at: str  # ISO 8601, UTC
    why: str
    key_id: str  # the first 16 hex digits of the SHA-256 of the public key that signed it
    signature: str  # base64 Ed25519 signature of `message()`

    def message(self) -> bytes:
        return signed_message(self.event_id, self.head, self.at, self.why)

    def line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


def signed_message(event_id: int, head: str, at: str, why: str) -> bytes:
    return "\n".join([ANCHOR_FORMAT, str(event_id), head, at, why]).encode()


# ---------------------------------------------------------------------------- keys
def generate_key(path: Path) -> Path:
    """Write a new Ed25519 private key to `path` (mode 0600, never over an existing file) and its public key
    beside it (`<path>.pub`); the public key's path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    pub_path = Path(f"{path}.pub")
    for p in (path, pub_path):
        if p.exists():
            raise AnchorError(f"{p} exists already: isap never replaces a key (move it away first)")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise AnchorError(f"cannot write the key to {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    os.chmod(path, 0o600)  # whatever the umask said
    pub_path.write_bytes(public)
    return pub_path


def _read_pem(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AnchorError(f"cannot read the key {path}: {exc.strerror}") from None


def load_signing_key(path: Path):
    """The Ed25519 private key in `path`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(_read_pem(path), password=None)
    except (ValueError, TypeError):
        raise AnchorError(f"{path} is not an unencrypted PEM private key (make one with `isap audit keygen`)") \
            from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorError(f"{path} is not an Ed25519 key (make one with `isap audit keygen`)")
    return key


def load_public_key(path: Path):
    """The Ed25519 public key in `path`: a public key file, or the private key it belongs to."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read_pem(path)
    if b"PRIVATE KEY" in data:
        return load_signing_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise AnchorError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorError(f"{path} is not an Ed25519 public key")
    return key


def key_id(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def configured_signing_key():
    """The signing key `ISAP_AUDIT_KEY` names, or None when none is configured."""
    path = os.environ.get(KEY_ENV)
    return load_signing_key(Path(path)) if path else None


def configured_public_key(path: Path | None = None):
    """The key anchors are checked with: `path`, else `ISAP_AUDIT_PUBLIC_KEY`, else that of `ISAP_AUDIT_KEY`."""
    path = path or os.environ.get(PUBLIC_KEY_ENV) or os.environ.get(KEY_ENV)
    if not path:
        raise AnchorError(f"no key to check anchors with: give --public-key, or set {PUBLIC_KEY_ENV} or {KEY_ENV}")
    return load_public_key(Path(path))


def anchors_file() -> Path:
    path = os.environ.get(ANCHORS_ENV)
    if path:
        return Path(path)
    from isap.store.db import data_dir

    return data_dir() / "audit-anchors.jsonl"


def anchor_recipients() -> list[str]:
    return [a.strip() for a in os.environ.get(ANCHOR_TO_ENV, "").split(",") if a.strip()]


# ---------------------------------------------------------------------------- anchors
def sign(signing_key, event_id: int, head: str, why: str, at: dt.datetime | None = None) -> Anchor:
    at_text = (at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    why = " ".join(why.split())[:200]  # one line: anchors are kept one a line
    signature = signing_key.sign(signed_message(event_id, head, at_text, why))
    return Anchor(event_id, head, at_text, why, key_id(signing_key.public_key()),
                  base64.b64encode(signature).decode())


def append(anchor: Anchor, path: Path | None = None) -> Path:
    """Add `anchor` as one line at the end of the anchors file, on disk before this returns."""
    path = path or anchors_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(anchor.line() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path


def read(path: Path) -> list[tuple[int, Anchor]]:
    """The anchors in a file, each with its line number; a line that is not an anchor is an AnchorError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"cannot read the anchors file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            anchor = Anchor(event_id=int(d["event_id"]), head=str(d["head"]), at=str(d["at"]), why=str(d["why"]),
                            key_id=str(d["key_id"]), signature=str(d["signature"]))
        except (ValueError, KeyError, TypeError):
            raise AnchorError(f"{path}, line {number}, is not an anchor isap wrote") from None
        out.append((number, anchor))
    if not out:
        raise AnchorError(f"{path} holds no anchors")
    return out


def signed_by(anchor: Anchor, public_key) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(anchor.signature, validate=True), anchor.message())
    except (InvalidSignature, ValueError):
        return False
    return True
