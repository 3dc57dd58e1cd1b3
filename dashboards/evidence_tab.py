"""The proposal page's Evidence tab: the documents behind a proposal, by checkpoint (docs/workflow.md, "Evidence").

Each document is listed with its kind, title, reference, who attached it and when, and offered for download as
an attachment through the dashboard's own signed-in route (`dashboards/downloads.py`), never shown inline.  The
commissioner's attach form is offered exactly when the state machine offers ATTACH_EVIDENCE.  The document is
judged by the service, in the checking child: this page never opens it.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from dashboards.render import fmt, plain
from dashboards.widgets import Offer, act, focus_message, offer_download
from isap.policy.evidence import EvidenceKind
from isap.review import wording
from isap.review.lifecycle import LAST_CHECKPOINT, Action
from isap.review.limits import TextKind
from isap.review.service import Service


def evidence_tab(svc: Service, user: dict, d: dict) -> None:
    ref, offer = d["name"], Offer(d)
    documents = svc.evidence_list(user["username"], ref)
    if not documents:
        st.markdown("No evidence documents yet.")
    for cp in range(1, LAST_CHECKPOINT + 1):
        mine = [e for e in documents if e["checkpoint"] == cp]
        if not mine:
            continue
        st.subheader(fmt("Checkpoint {}", cp))
        for n, e in enumerate(mine):
            st.markdown(fmt("**{}** — {} · reference “{}”", e["title"], e["kind_label"], e["reference"]))
            words = wording.evidence(e)  # as the report and the letter say it; the whole SHA-256 to compare with
            st.caption(fmt("{}, {}; attached by {} on {}; SHA-256 {}", e["type_label"], words["size"],
                           words["attached_by"], words["attached_on"], e["sha256"]))

            def document(username: str, wanted: str = e["reference"]) -> bytes:  # read on click, as the person
                return svc.evidence_download(username, ref, wanted).data

            offer_download(user, fmt("Download {}", e["filename"]), document, plain(e["filename"]),
                           e["media_type"], f"evidence-{cp}-{n}")
    if offer.listed(Action.ATTACH_EVIDENCE):
        st.subheader("Attach a document")
        with st.form("attach-evidence", clear_on_submit=False):
            upload = st.file_uploader("Document (PDF, Word .docx or Excel .xlsx)", key="evidence-file")
            # no default: a document filed under the first kind by a click too few is listed so in the letter
            kind = st.selectbox("Kind", list(EvidenceKind), index=None, format_func=lambda k: k.label,
                                key="evidence-kind", placeholder="Choose the kind of document")
            title = st.text_input("Title", key="evidence-title", max_chars=TextKind.EVIDENCE_TITLE.max_chars)
            reference = st.text_input("Reference (what the workbook's evidence_reference names it by)",
                                      key="evidence-reference",
                                      max_chars=TextKind.EVIDENCE_REFERENCE.max_chars)
            checkpoint = st.selectbox("For checkpoint", list(range(1, d["checkpoint"] + 1)),
                                      index=d["checkpoint"] - 1, key="evidence-checkpoint")
            if st.form_submit_button("Attach", **offer.disabled(Action.ATTACH_EVIDENCE)):
                if upload is None:
                    st.error("Nothing was attached: choose the document first.")
                    focus_message()  # refused here, as the service's refusals are: the focus goes to why
                elif kind is None:
                    st.error("Nothing was attached: choose the document's kind.")
                    focus_message()
                else:
                    act(svc.attach_evidence, user["username"], ref, upload.name, upload.getvalue(), kind.value,
                        title, reference, checkpoint=checkpoint, success=f"Attached “{plain(reference)}”.",
                        clear=("evidence-title", "evidence-reference"))  # attached, the boxes are for the next one
        offer.explain(Action.ATTACH_EVIDENCE)


def documents_for_an_answer(documents: list[dict], key: str) -> tuple[list[str], Callable[[], list | str]]:
    """Inside a query's answer form: the attached documents the answer names (by short id) and a new one to attach
    with it (docs/decisions/0053-documents-with-answers.md).  Gives the short ids chosen and, to call once the
    form is sent, the new documents to attach, or what is missing for one, in words."""
    from isap.review.evidence import EvidenceInput

    shown = {e["sha256"][:wording.SHA256_SHOWN]: plain(wording.document_named(e)) for e in documents}
    named = st.multiselect("Attached documents given in support", list(shown), format_func=shown.__getitem__,
                           key=f"{key}-named") if shown else []
    upload = st.file_uploader("A new document given in support (PDF, Word .docx or Excel .xlsx)", key=f"{key}-file")
    kind = st.selectbox("Its kind", list(EvidenceKind), index=None, format_func=lambda k: k.label,
                        key=f"{key}-kind", placeholder="Choose the kind of document")  # no default, as above
    title = st.text_input("Its title", key=f"{key}-title", max_chars=TextKind.EVIDENCE_TITLE.max_chars)
    reference = st.text_input("Its reference", key=f"{key}-reference",
                              max_chars=TextKind.EVIDENCE_REFERENCE.max_chars)

    def attachments() -> list | str:
        if upload is None:
            return "" if not (title or reference) else "A new document needs its file: choose it, or clear its title."
        if kind is None:
            return "Nothing was sent: choose the new document's kind."
        return [EvidenceInput(upload.name, upload.getvalue(), kind.value, title, reference)]
    return list(named), attachments
