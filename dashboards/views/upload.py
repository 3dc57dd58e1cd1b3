"""Commissioners: upload a workbook, see its findings at once (or when a worker has checked it), and download it
with the findings marked."""

from __future__ import annotations

import hashlib
import math

import streamlit as st

from dashboards.render import fmt, md, plain
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import (
    MIB,
    XLSX,
    findings_view,
    guarded,
    kind_error,
    log,
    offer_download,
    open_proposal,
    size_text,
)
from isap.review import wording
from isap.review.capabilities import Capability
from isap.review.service import StoreError, WorkflowError


def upload_limit_mb(max_file_bytes: int) -> int:
    """Streamlit's upload limit (whole megabytes) that lets every file the policy accepts through."""
    return max(1, math.ceil(max_file_bytes / MIB))


def upload_page() -> None:
    from isap.orchestration.dispatch import assure_dashboard_upload, checking_queue_text

    user = me()
    svc = service()
    limit = svc.policy.max_file_bytes
    st.title("Upload a workbook")
    st.markdown("Drop your ICP proposal workbook here. It is checked at once; you can upload new versions until it "
                "is clean, then submit it from the proposal page.")
    file = st.file_uploader(fmt("Workbook (.xlsx), at most {}", size_text(limit)), type=["xlsx"], key="uploader",
                            max_upload_size=upload_limit_mb(limit))
    if file is None:
        return
    data = file.getvalue()
    if len(data) > limit:
        st.error(fmt("{} is {}, larger than the {} a workbook may be. Nothing was kept; please upload a smaller "
                     "file.", plain(file.name), size_text(len(data)), size_text(limit)))
        return
    # Told apart by content, never by name and size: a changed file of the same name and size is a new upload.
    marker = hashlib.sha256(data).hexdigest()
    if st.session_state.get("last_upload_marker") != marker:
        try:
            with st.spinner(md(checking_queue_text(svc.checking_owner(user["username"]), svc.policy))):
                upload = assure_dashboard_upload(svc, user["username"], file.name, data)
        except (WorkflowError, StoreError) as exc:
            st.session_state.pop("last_upload_marker", None)
            kind_error(exc)
            return
        st.session_state["last_upload_marker"] = marker
        st.session_state["last_upload"] = upload
    upload = st.session_state["last_upload"]
    if upload.queued:
        queued_upload(upload, user["username"], file.name)
        return
    upload_outcome(upload, data, file.name)


def queued_upload(upload, username: str, filename: str) -> None:
    """An upload a worker has not finished yet: say so, and show the result here as soon as it lands."""
    from isap.orchestration.dispatch import dashboard_upload_result

    st.info(fmt("{} is saved and queued for checking: many uploads are being checked just now. Its findings "
                "will show here as soon as they are ready; you can also leave this page and find the version on "
                "the proposal later.", plain(filename)))

    @st.fragment(run_every=2.0)
    def wait_for_it() -> None:
        try:
            result = dashboard_upload_result(service(), username, upload.staged_id)
        except (WorkflowError, StoreError) as exc:
            kind_error(exc)
            return
        if result is not None:
            upload.result = result
            st.rerun()
        st.caption("Still waiting for a checker…")

    wait_for_it()


def upload_outcome(upload, data: bytes, filename: str) -> None:
    result, as_flow = upload.result, upload.as_flow
    if not as_flow:
        # said in a commissioner's words: nothing for them to do (the log says what happened, for operators)
        st.caption("Checked at once, without waiting for the background service (it is starting up or not "
                   "answering). Your upload is saved, and the result is the same.")
    # the checkpoint mismatch: the version is kept, but cannot be submitted whatever its findings
    mismatch = bool(result.reference and result.message and not result.duplicate)
    if result.reference:
        st.session_state["current_ref"] = uploaded_name(result)
        what = ("is identical to version" if result.duplicate else "saved as version")
        # coloured by outcome: errors red, warnings amber, clean green (never green when it cannot be submitted)
        shown = st.error if result.errors else st.warning if result.warnings or mismatch else st.success
        if mismatch:
            # at once and first, in the words the CLI and the notification use, and in the same message what
            # became of the file: a red box above an amber "saved as version" left people unsure it had worked
            st.error(fmt("{}\n\nThe file is kept as version {} of {} ({}); it can be submitted once its checkpoint "
                         "matches.", result.message[:1].upper() + result.message[1:], result.version,
                         result.reference, wording.errors_and_warnings(result.errors, result.warnings)))
        elif result.needs_a_second_look:
            # the file of an earlier version again, or a proposal closed to new versions: not "fixed", however clean
            st.warning(md(result.message))
        else:
            shown(fmt("{} {} {}: {}.", result.reference, what, result.version,
                      wording.errors_and_warnings(result.errors, result.warnings)))
        if result.retitled is not None:
            st.info(fmt("This version changed the proposal's title from “{}” to “{}”.", *result.retitled))
        if st.button(fmt("Open {}", result.reference), key="open-uploaded"):
            open_proposal(uploaded_name(result))
    else:
        st.error(md(result.message))
    if mismatch and not result.report.get("findings"):
        st.info("No findings in the workbook's content, but this version cannot be submitted until its checkpoint "
                "matches the proposal's (above).")
    else:
        findings_view(result.report.get("findings", []), "upload")
    if result.report.get("findings") and result.errors + result.warnings:
        annotated_download(data, result.report, filename, waived_findings(result))


def waived_findings(result) -> dict[str, str]:
    """The findings waived for the uploaded version's proposal at its checkpoint, by fingerprint: who waived
    each and why, for the annotated copy."""
    if not result.reference:
        return {}
    try:
        d = service().show(me()["username"], uploaded_name(result))
    except (WorkflowError, StoreError):  # the copy is an extra: without the waivers it still marks every finding
        return {}
    return {w["fingerprint"]: f"by {w['ruled_by_name']}: {w['ruling']}" for w in d.get("waivers", [])
            if w["status"] == "granted" and w["checkpoint"] == d["checkpoint"]}


def annotated_download(data: bytes, report: dict, filename: str, waived: dict[str, str] | None = None) -> None:
    """Offer the workbook with its findings marked; a workbook the annotation cannot read gets a plain message.

    The annotation reads the uploaded bytes again, in a limited child as the
    check does (never in this server process), so any failure there is this
    download's, never the page's.
    """
    from isap.outputs.annotated_copy import AnnotateError, annotate_bytes
    from isap.rules.engine import CheckReport

    try:
        annotated = annotate_bytes(data, CheckReport.from_dict(report), service().policy, waived)
    except Exception as exc:  # noqa: BLE001 - hostile bytes may fail in any parser; the check's result stands
        if isinstance(exc, AnnotateError):  # expected: a file the check could not assess (not an alarm)
            log.info("no annotated copy of %r: %s", plain(filename), exc)
        else:
            log.warning("annotating %r failed", plain(filename), exc_info=True)
        st.caption("A copy of your workbook with the findings marked cannot be made for this file; the findings "
                   "above are complete.")
        return
    if annotated:
        offer_download(me(), "Download your workbook with the findings marked", lambda _username: annotated,
                       plain(filename).rsplit(".", 1)[0] + "-findings.xlsx", XLSX, "annotated")


def uploaded_name(result) -> str:
    """How the uploader names the proposal just uploaded: its reference within a commissioner's organisation,
    with the lead commissioner's code for an administrator, who sees every organisation's."""
    user = me()
    if user is None or not result.organisation or not service().can(user["username"], Capability.REVIEW_PROPOSALS):
        return result.reference
    from isap.review.service import proposal_name

    return proposal_name(result.organisation, result.reference)


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(upload_page)()
