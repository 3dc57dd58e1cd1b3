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
from isap.review.events import AuditKind
from isap.review.evidence_references import REFERENCE_LIMIT, reference_key
from isap.review.lifecycle import LAST_CHECKPOINT, Action, EvidenceFacts
from isap.review.limits import TextKind
from isap.review.unit_of_work import (
    Conflict,
    NotFound,
    Refused,
    UnitOfWork,
    WorkflowError,
    iso_time,
    readable_size,
    stored_name,
)
from isap.store.db import StoreError
from isap.store.models import EvidenceDocument, Organisation, User
from isap.store.originals import OriginalsError
from isap.text import has_controls, without_controls

TITLE_LIMIT = TextKind.EVIDENCE_TITLE.max_chars


@dataclass(frozen=True)
class EvidenceFile:
    """A document as downloaded: its bytes, the name to save it under, and its media type."""

    filename: str
    data: bytes
    media_type: str


class Evidence(UnitOfWork):
    def attach_evidence(self, actor: str, reference: str, filename: str, data: bytes, kind: str, title: str,
                        evidence_reference: str, checkpoint: int | None = None) -> dict:
        """Judge the document and keep it for the proposal's checkpoint (or `checkpoint`, one not after it);
        the document as `evidence_list` shows it."""
        from isap.workbook.documents import DocumentType, check_document

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
        if checkpoint is not None and (not isinstance(checkpoint, int) or not 1 <= checkpoint <= LAST_CHECKPOINT):
            raise WorkflowError(f"the checkpoint must be 1, 2 or 3, not {checkpoint!r}")
        if not isinstance(data, (bytes, bytearray)):
            raise WorkflowError("an evidence document needs its bytes")
        data = bytes(data)
        # who may attach, before the document is judged (a refused person's file is never parsed)
        self._run(lambda s: self._evidence_target(s, actor, reference, checkpoint))
        verdict = check_document(data, self.policy, owner=actor)
        if not verdict.accepted:
            raise Refused(f"{stored_name(filename) or 'the document'} was not attached: {verdict.refusal}")
        import hashlib

        sha = hashlib.sha256(data).hexdigest()

        def run(s: Session) -> dict:
            user, p, cp = self._evidence_target(s, actor, reference, checkpoint)
            key = reference_key(ref)
            taken = s.exec(select(EvidenceDocument).where(EvidenceDocument.proposal_id == p.id,
                                                          EvidenceDocument.reference_key == key)).first()
            if taken is not None:
                raise Refused(f"{p.reference} already has an evidence document with the reference “{taken.reference}” "
                              f"({taken.title}); give this one another reference")
            org = s.get(Organisation, p.organisation_id)
            self._within_storage_quotas(s, org, len(data))
            try:
                self.files.put(data, s)
            except OriginalsError as exc:
                raise StoreError(str(exc)) from None
            doc = EvidenceDocument(proposal_id=p.id, checkpoint=cp, kind=kind.value, title=title, reference=ref,
                                   reference_key=key, filename=stored_name(filename) or f"evidence.{verdict.type}",
                                   document_type=DocumentType(verdict.type).value, size=len(data), sha256=sha,
                                   attached_by=user.id, attached_at=self.clock())
            s.add(doc)
            s.flush()
            self._bump(s, p, None)
            self._audit(s, p, AuditKind.EVIDENCE_ATTACHED, user.username, checkpoint=cp,
                        reason=f"{kind.label} “{title}”, reference “{ref}”, for checkpoint {cp}: {doc.filename} "
                               f"({readable_size(len(data))}, SHA-256 {sha})")
            return _row(doc, user.username)
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
            users = {u.id: u.username for u in s.exec(select(User))}
            docs = s.exec(select(EvidenceDocument).where(EvidenceDocument.proposal_id == p.id)
                          .order_by(EvidenceDocument.checkpoint, EvidenceDocument.id))
            return [_row(d, users.get(d.attached_by, "")) for d in docs]
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


def _row(d: EvidenceDocument, attached_by: str) -> dict:
    from isap.workbook.documents import DocumentType

    return {"checkpoint": d.checkpoint, "kind": d.kind, "kind_label": EvidenceKind(d.kind).label, "title": d.title,
            "reference": d.reference, "filename": d.filename, "type": d.document_type,
            "type_label": DocumentType(d.document_type).label, "media_type": DocumentType(d.document_type).media_type,
            "size": d.size, "sha256": d.sha256,
            "attached_by": attached_by, "attached_at": iso_time(d.attached_at)}
