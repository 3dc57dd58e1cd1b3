"""Evidence documents: attach, list and download the documents behind a proposal (docs/workflow.md, "Evidence").

A commissioner attaches a document for a checkpoint with a kind, a title and a reference (what the workbook's
evidence_reference values name).  The document is judged by its content in the limited child that checks
workbooks (`isap.workbook.documents.check_document`) before anything is kept: this process never parses it.
Kept, its bytes go to the store of originals under their SHA-256, in the same transaction as its record and its
audit event, so a record never exists without its bytes.  Reading is scoped like every other read: a
commissioner sees only their own organisation's proposals' documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from isap.policy.evidence import EvidenceKind, evidence_kind
from isap.review.errors import Conflict, NotFound, Refused, WorkflowError
from isap.review.events import AuditKind
from isap.review.evidence_references import REFERENCE_LIMIT, reference_key
from isap.review.lifecycle import LAST_CHECKPOINT, Action, EvidenceFacts
from isap.review.limits import TextKind
from isap.review.records import stored_name
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import iso_time, readable_size
from isap.store.db import StoreError
from isap.store.models import EvidenceDocument, Organisation, Proposal, User
from isap.store.originals import OriginalsError
from isap.text import has_controls, without_controls

TITLE_LIMIT = TextKind.EVIDENCE_TITLE.max_chars


@dataclass(frozen=True)
class EvidenceFile:
    """A document as downloaded: its bytes, the name to save it under, and its media type."""

    filename: str
    data: bytes
    media_type: str


@dataclass(frozen=True)
class EvidenceInput:
    """A document to attach: its bytes and file name, and the kind, title and reference it is kept under."""

    filename: str
    data: bytes
    kind: str
    title: str
    reference: str


@dataclass(frozen=True)
class _Checked:
    """A document whose words were checked and whose bytes were judged in the checking child: ready to keep."""

    filename: str
    data: bytes
    kind: EvidenceKind
    title: str
    reference: str
    document_type: str
    sha256: str


def checked_words(kind: str, title: str, evidence_reference: str) -> tuple[EvidenceKind, str, str]:
    """The kind, title and reference as they are kept; WorkflowError saying what is wrong with any of them."""
    try:
        kind = evidence_kind(kind)
    except ValueError as exc:
        raise WorkflowError(str(exc)) from None
    title = without_controls(str(title or "")).strip()
    if not title:
        raise WorkflowError("an evidence document needs a title")
    if len(title) > TITLE_LIMIT:
        raise WorkflowError(f"the title is {len(title)} characters; at most {TITLE_LIMIT} are kept")
    ref = " ".join(without_controls(str(evidence_reference or "")).split())
    if not ref:
        raise WorkflowError("an evidence document needs a reference: what the workbook's evidence_reference "
                            "names it by")
    if len(ref) > REFERENCE_LIMIT:
        raise WorkflowError(f"the reference is {len(ref)} characters; at most {REFERENCE_LIMIT}")
    return kind, title, ref


def judged(uow: UnitOfWork, item: EvidenceInput, owner: str) -> _Checked:
    """`item` with its words checked and its bytes judged in the checking child; Refused with the reason."""
    import hashlib

    from isap.workbook.documents import DocumentType, check_document

    kind, title, ref = checked_words(item.kind, item.title, item.reference)
    if not isinstance(item.data, (bytes, bytearray)):
        raise WorkflowError("an evidence document needs its bytes")
    data = bytes(item.data)
    verdict = check_document(data, uow.policy, owner=uow.checking_owner(owner))
    if not verdict.accepted:
        raise Refused(f"{stored_name(item.filename) or 'the document'} was not attached: {verdict.refusal}")
    return _Checked(typed_name(stored_name(item.filename), DocumentType(verdict.type).value), data, kind, title, ref,
                    DocumentType(verdict.type).value, hashlib.sha256(data).hexdigest())


def typed_name(name: str, extension: str) -> str:
    """A document's name as kept and downloaded: ending in the extension of the type it was judged to be.

    A file is judged by its bytes, but opened by its name: a PDF that is also an HTML application, attached
    as `board-paper.hta`, was kept and downloaded under that name, and would have run as a program."""
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return name if name.lower().endswith(f".{extension}") else f"{stem or 'evidence'}.{extension}"


def kept(uow: UnitOfWork, s: Session, user: User, p: Proposal, cp: int, doc: _Checked) -> EvidenceDocument:
    """Keep a judged document for checkpoint `cp` of `p`, in the caller's transaction: its reference unique in the
    proposal, its bytes within the storage quotas and in the store of originals, its history event recorded."""
    key = reference_key(doc.reference)
    taken = s.exec(select(EvidenceDocument).where(EvidenceDocument.proposal_id == p.id,
                                                  EvidenceDocument.reference_key == key)).first()
    if taken is not None:
        raise Refused(f"{p.reference} already has an evidence document with the reference “{taken.reference}” "
                      f"({taken.title}); give this one another reference")
    uow._within_storage_quotas(s, s.get(Organisation, p.organisation_id), len(doc.data), p, document=True)
    try:
        uow.files.put(doc.data, s)
    except OriginalsError as exc:
        raise StoreError(str(exc)) from None
    row = EvidenceDocument(proposal_id=p.id, checkpoint=cp, kind=doc.kind.value, title=doc.title,
                           reference=doc.reference, reference_key=key, filename=doc.filename,
                           document_type=doc.document_type, size=len(doc.data), sha256=doc.sha256,
                           attached_by=user.id, attached_at=uow.clock())
    s.add(row)
    s.flush()
    uow._audit(s, p, AuditKind.EVIDENCE_ATTACHED, user.username, checkpoint=cp,
               reason=f"{doc.kind.label} “{doc.title}”, reference “{doc.reference}”, for checkpoint {cp}: "
                      f"{doc.filename} ({readable_size(len(doc.data))}, SHA-256 {doc.sha256})")
    return row


# a short id is the start of a document's SHA-256, as listings show it (`wording.SHA256_SHOWN` characters); fewer
# than this many could name several documents by chance
SHORT_ID_MIN = 8


def named(s: Session, p: Proposal, short_ids: list[str] | tuple[str, ...]) -> list[EvidenceDocument]:
    """The proposal's documents the short ids name, in the order named (each once); NotFound for an id that names
    none, WorkflowError for one that is no id or names several."""
    docs = list(s.exec(select(EvidenceDocument).where(EvidenceDocument.proposal_id == p.id)
                       .order_by(EvidenceDocument.id)))
    out: list[EvidenceDocument] = []
    for given in short_ids:
        wanted = str(given or "").strip().rstrip("…").casefold()
        if len(wanted) < SHORT_ID_MIN or any(c not in "0123456789abcdef" for c in wanted):
            raise WorkflowError(f"{without_controls(str(given))[:80]!r} is not a document's short id: give the start "
                                f"of its SHA-256, at least {SHORT_ID_MIN} of its characters, as the evidence list "
                                "shows it")
        found = [d for d in docs if d.sha256.startswith(wanted)]
        if not found:
            raise NotFound(f"{p.reference} has no evidence document whose SHA-256 begins {wanted} "
                           "(`isap evidence list` shows them)")
        if len({d.reference for d in found}) > 1:
            raise WorkflowError(f"{wanted} begins the SHA-256 of several documents "
                                f"({', '.join(d.reference for d in found)}): give more of it")
        if found[0] not in out:
            out.append(found[0])
    return out


class Evidence(UnitOfWork):
    def attach_evidence(self, actor: str, reference: str, filename: str, data: bytes, kind: str, title: str,
                        evidence_reference: str, checkpoint: int | None = None) -> dict:
        """Judge the document and keep it for the proposal's checkpoint (or `checkpoint`, one not after it);
        the document as `evidence_list` shows it."""
        if checkpoint is not None and (not isinstance(checkpoint, int) or not 1 <= checkpoint <= LAST_CHECKPOINT):
            raise WorkflowError(f"the checkpoint must be 1, 2 or 3, not {checkpoint!r}")
        item = EvidenceInput(filename, data, kind, title, evidence_reference)
        checked_words(kind, title, evidence_reference)
        # who may attach, before the document is judged (a refused person's file is never parsed)
        self._run(lambda s: self._evidence_target(s, actor, reference, checkpoint))
        doc = judged(self, item, actor)

        def run(s: Session) -> dict:
            user, p, cp = self._evidence_target(s, actor, reference, checkpoint)
            row = kept(self, s, user, p, cp, doc)
            self._bump(s, p, None)
            return _row(row, user)
        return self._run(run)

    def _evidence_target(self, s: Session, actor: str, reference: str, checkpoint: int | None):
        user = self._user(s, actor)
        p = self._proposal(s, user, reference)
        cp = p.checkpoint if checkpoint is None else checkpoint
        self._guard(s, Action.ATTACH_EVIDENCE, user, p, EvidenceFacts(cp))
        return user, p, cp

    def evidence_list(self, actor: str, reference: str) -> list[dict]:
        """The proposal's evidence documents, by checkpoint and then in the order attached."""
        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            return evidence_rows(s, p)
        return self._run(run)

    def evidence_download(self, actor: str, reference: str, evidence_reference: str) -> EvidenceFile:
        """The document `evidence_reference` names exactly (case and spaces aside), byte for byte."""
        from isap.workbook.documents import DocumentType

        wanted = str(evidence_reference or "")
        if has_controls(wanted):
            raise NotFound(f"{reference} has no evidence document {wanted!r}")

        def run(s: Session) -> EvidenceDocument:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            doc = s.exec(select(EvidenceDocument).where(EvidenceDocument.proposal_id == p.id,
                                                        EvidenceDocument.reference_key == reference_key(wanted))
                         ).first()
            if doc is None:
                raise NotFound(f"{p.reference} has no evidence document with the reference “{wanted.strip()}” "
                               "(`isap evidence list` shows them)")
            return doc
        doc = self._run(run)
        try:
            data = self.files.get(doc.sha256)
        except OriginalsError as exc:
            raise StoreError(str(exc)) from None
        import hashlib

        if hashlib.sha256(data).hexdigest() != doc.sha256:
            raise Conflict(f"the kept bytes of “{doc.reference}” do not match their SHA-256: ask an administrator "
                           "to restore them from a backup")
        return EvidenceFile(doc.filename, data, DocumentType(doc.document_type).media_type)


def evidence_rows(s: Session, p: Proposal) -> list[dict]:
    """The proposal's evidence documents as `evidence_list` and `show` give them: by checkpoint, then in the order
    attached."""
    people = {u.id: u for u in s.exec(select(User))}
    docs = s.exec(select(EvidenceDocument).where(EvidenceDocument.proposal_id == p.id)
                  .order_by(EvidenceDocument.checkpoint, EvidenceDocument.id))
    return [_row(d, people.get(d.attached_by)) for d in docs]


def attacher_words(user: User | None) -> str:
    """Who attached a document, as reports and letters name them: display name and job title; a person without a
    display name by their user name, the only name the store has for them."""
    if user is None:
        return ""
    if not user.display_name:
        return user.username
    return f"{user.display_name}, {user.job_title}" if user.job_title else user.display_name


def _row(d: EvidenceDocument, attached_by: User | None) -> dict:
    from isap.workbook.documents import DocumentType

    return {"checkpoint": d.checkpoint, "kind": d.kind, "kind_label": EvidenceKind(d.kind).label, "title": d.title,
            "reference": d.reference, "filename": d.filename, "type": d.document_type,
            "type_label": DocumentType(d.document_type).label, "media_type": DocumentType(d.document_type).media_type,
            "size": d.size, "sha256": d.sha256,
            "attached_by": attached_by.username if attached_by else "", "attached_by_name": attacher_words(attached_by),
            "attached_at": iso_time(d.attached_at)}
