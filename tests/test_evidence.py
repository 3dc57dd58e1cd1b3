"""Evidence documents (docs/workflow.md, "Evidence"): judged by content in the checking child, the hostile-document
suite, kept byte for byte with their SHA-256, and the submit guard from checkpoint 2, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re

import pytest

from isap.policy import Policy
from isap.review import wording
from isap.review.service import Forbidden, NotFound, Refused, WorkflowError
from sample_submissions.evidence import sample_docx, sample_pdf, sample_xlsx
from sample_submissions.proposals import clean, write
from tests import hostile_documents as hostile
from tests.panel import decide, take

REF = "ISAP-2026-014"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}
CONTRACT = "ICP contract schedule 7"  # what the clean workbooks' evidence_reference values name


# ---------------------------------------------------------------------- judged by content, in the child

HOSTILE = {
    "javascript.pdf": (hostile.javascript_pdf, "the PDF contains JavaScript"),
    "launch.pdf": (hostile.launch_action_pdf, "the PDF contains a launch action"),
    "attachment.pdf": (hostile.embedded_file_pdf, "the PDF contains an embedded file"),
    "encrypted.pdf": (hostile.encrypted_pdf, "the PDF is encrypted"),
    "macro.docx": (hostile.macro_docx, "the document contains macros"),
    "encrypted.docx": (hostile.encrypted_docx, "the document is encrypted"),
    "bomb.docx": (hostile.zip_bomb_docx, "(a possible zip bomb)"),
    "two-archives.docx": (hostile.second_archive_docx, "the document is a damaged zip archive"),
    "nested.docx": (hostile.nested_content_types_docx, "content types hold more than 300,000 XML tags and attributes"),
    "object-streams.pdf": (lambda: hostile.object_streams_pdf(3, 12_000_000),
                           "the PDF's compressed parts inflate to more than 33,554,432 bytes"),
    "large-object-stream.pdf": (lambda: hostile.object_streams_pdf(1, 40_000_000),
                                "the PDF's compressed parts inflate to more than 33,554,432 bytes"),
    "dde.docx": (hostile.dde_field_docx, "the document contains a field that starts a program or fetches "
                                         "another file (DDEAUTO)"),
    "dde-simple.docx": (lambda: hostile.dde_field_docx(simple=True), "a field that starts a program"),
    # a button that runs a Word command (or a macro) when double-clicked, and a field that sends its text to the
    # printer as printer instructions (found by a fresh attack: both were accepted)
    "macro-button.docx": (lambda: hostile.simple_field_docx(" MACROBUTTON FileOpen Double-click to read the annex "),
                          "a field that starts a program or fetches another file (MACROBUTTON)"),
    "print-field.docx": (lambda: hostile.simple_field_docx(' PRINT "%!PS statusdict begin" '),
                         "a field that starts a program or fetches another file (PRINT)"),
    "remote-template.docx": (hostile.remote_template_docx, "the document is attached to a template kept outside "
                                                           "it ('http://attacker.example/board-template.dotm')"),
    "activex.docx": (hostile.activex_docx, "the document contains an ActiveX control"),
    "ole-object.docx": (hostile.ole_object_docx, "the document contains an embedded OLE object (part "
                                                 "word/embeddings/o1.bin), which can carry macros unseen"),
    "linked-picture.docx": (hostile.linked_picture_docx, "the document contains a link to the outside file "
                                                         "'file:///\\\\attacker.example\\share\\logo.png'"),
    "hyperlink-typed-picture.docx": (hostile.hyperlink_typed_picture_docx, "the document contains a link to the "
                                                                           "outside file 'file:///\\\\attacker."
                                                                           "example\\share\\logo.png'"),
    "embedded-dde.docx": (lambda: hostile.chart_docx(embedded=hostile.dde_field_docx()),
                          "a field that starts a program"),
    "macro-sheet.xlsx": (hostile.macro_sheet_xlsx, "the document contains macros (an Excel 4 macro sheet)"),
    "external-link.xlsx": (hostile.external_link_xlsx, "the document contains a link to another workbook"),
    "external-link-elsewhere.xlsx": (lambda: hostile.external_link_xlsx("media", "rates.bin"),
                                     "the document contains a link to another workbook"),
    "indirect-launch.pdf": (hostile.indirect_launch_pdf, "the PDF contains a launch action"),
    "parent-field-javascript.pdf": (hostile.parent_field_javascript_pdf, "the PDF contains JavaScript"),
    "xfa.pdf": (hostile.xfa_pdf, "the PDF contains an XFA form (which can hold scripts)"),
    "remote-go-to.pdf": (hostile.remote_go_to_pdf, "the PDF contains a link that opens another file"),
    "nested-arrays.pdf": (lambda: hostile.nested_arrays_pdf(40), "the document needed more memory than a document "
                                                                 "may use (policy max_evidence_memory_bytes)"),
    "thread.pdf": (hostile.thread_action_pdf, "the PDF contains an article action that opens another file"),
    "file-uri.pdf": (hostile.file_uri_pdf, "the PDF contains a link to a file on another computer "
                                           "('file://attacker.example/share/annex.pdf')"),
    "media.pdf": (hostile.media_pdf, "the PDF contains a media action"),
    "imported-chunk.docx": (hostile.imported_chunk_docx, "the document contains an imported document (altChunk)"),
    "include-field.docx": (hostile.include_field_docx, "a field that starts a program or fetches another file "
                                                       "(INCLUDETEXT)"),
    "connections.xlsx": (hostile.connections_xlsx, "the document contains data connections"),
    "unknown-action.pdf": (hostile.unknown_action_pdf, "the PDF contains an action of a kind a viewer may use to "
                                                       "run or open something ('/ExecuteSomething')"),
    "add-in.docx": (hostile.add_in_docx, "the document contains an Office add-in"),
    "strict-field.docx": (hostile.strict_field_docx, "a field that starts a program or fetches another file "
                                                     "(INCLUDEPICTURE)"),
    "mail-merge.docx": (hostile.mail_merge_docx, "(a mail merge from a data source)"),
    # found by a fresh attack: fields were read only in parts named word/*.xml
    "dde-main-part-elsewhere.docx": (lambda: hostile.part_moved_docx(hostile.dde_field_docx, "word/document.xml",
                                                                     "doc/document.xml"), "(DDEAUTO)"),
    "dde-main-part-not-xml.docx": (lambda: hostile.part_moved_docx(hostile.dde_field_docx, "word/document.xml",
                                                                   "word/document.dat"), "(DDEAUTO)"),
    "include-main-part-elsewhere.docx": (lambda: hostile.part_moved_docx(hostile.include_field_docx,
                                                                         "word/document.xml", "doc/document.xml"),
                                         "(INCLUDETEXT)"),
    "mail-merge-settings-elsewhere.docx": (lambda: hostile.part_moved_docx(hostile.mail_merge_docx,
                                                                           "word/settings.xml", "parts/s.xml"),
                                           "(a mail merge from a data source)"),
    "computed-field.docx": (hostile.computed_field_docx, "(its kind computed by another field, as hidden DDE "
                                                         "fields are written)"),
    "ms-msdt-link.pdf": (lambda: hostile.scheme_link_pdf(b"ms-msdt:/id PCWDiagnostic"),
                         "the PDF contains a link that is not a web or mail address ('ms-msdt:/id PCWDiagnostic')"),
    "search-link.pdf": (lambda: hostile.scheme_link_pdf(b"search-ms:crumb=location:\\\\srv\\s"),
                        "the PDF contains a link that is not a web or mail address"),
    # found by a fresh attack: pypdf keeps a key's first value, other readers its last
    "duplicate-open-action.pdf": (lambda: hostile.duplicate_key_pdf("open-action"),
                                  "the PDF names a key twice in one dictionary ('/OpenAction')"),
    "duplicate-action-kind.pdf": (lambda: hostile.duplicate_key_pdf("action-kind"),
                                  "the PDF names a key twice in one dictionary ('/S')"),
    "duplicate-names.pdf": (lambda: hostile.duplicate_key_pdf("names"),
                            "the PDF names a key twice in one dictionary ('/Names')"),
    "hyperlink-field-share.docx": (lambda: hostile.hyperlink_field_docx('HYPERLINK "\\\\\\\\srv\\\\share\\\\r.exe"'),
                                   "the document contains a link that is not a web or mail address"),
    "hyperlink-field-ms-msdt.docx": (lambda: hostile.hyperlink_field_docx(' HYPERLINK  \\o "tip" "ms-msdt:/id x"'),
                                     "the document contains a link that is not a web or mail address "
                                     "('ms-msdt:/id x')"),
    "hyperlink-field-simple-file.docx": (lambda: hostile.hyperlink_field_docx('HYPERLINK "file://srv/share/x.exe"',
                                                                              simple=True),
                                         "the document contains a link that is not a web or mail address "
                                         "('file://srv/share/x.exe')"),
    "part-stored-twice.docx": (hostile.part_stored_twice_docx, "the document is damaged (it holds two parts named "
                                                               "'word/_rels/settings.xml.rels')"),
    "embedded-by-encoded-name.docx": (hostile.embedded_by_encoded_name_docx, "a field that starts a program"),
    "embedded-part-missing.docx": (lambda: hostile.embedded_by_encoded_name_docx("embeddings/Gone.docx"),
                                   "the document names an embedded object it does not hold"),
    "padded-dde.docx": (hostile.padded_field_docx, "a field that starts a program or fetches another file (DDEAUTO)"),
    "padded-include-picture.docx": (lambda: hostile.padded_field_docx('INCLUDEPICTURE "\\\\\\\\srv\\\\s\\\\a.png"',
                                                                      "\n" * 5000),
                                    "a field that starts a program or fetches another file (INCLUDEPICTURE)"),
    "object-defined-twice.pdf": (hostile.object_defined_twice_pdf, "the PDF defines object 4 twice"),
    "object-defined-twice-leading-zeros.pdf": (lambda: hostile.object_defined_twice_pdf(second=b"004"),
                                               "the PDF defines object 4 twice"),
    "object-defined-twice-last.pdf": (lambda: hostile.object_defined_twice_pdf("last"), "the PDF contains JavaScript"),
    "large.pdf": (hostile.oversized_pdf, "the document is 26,214,401 bytes, over the limit of 26,214,400 bytes "
                                         "(policy max_evidence_bytes)"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_document_is_refused_in_the_child_with_its_reason(name):
    from isap.workbook.documents import check_document

    make, words = HOSTILE[name]
    verdict = check_document(make(), Policy())
    assert not verdict.accepted and words in verdict.refusal and "\n" not in verdict.refusal


def test_a_document_with_a_chart_whose_data_is_an_embedded_workbook_is_accepted():
    """What Word writes for a chart: the refusals of what runs code or reaches out leave it be."""
    from isap.workbook.documents import DocumentType, check_document

    verdict = check_document(hostile.chart_docx(), Policy())
    assert verdict.accepted and verdict.type is DocumentType.DOCX


@pytest.mark.parametrize("target", ["https://www.england.nhs.uk/", "HTTP://example.org/a", "mailto:icb@nhs.net"])
def test_a_document_whose_hyperlinks_are_web_or_mail_addresses_is_accepted(target):
    """A hyperlink is followed only when clicked: the relationship typed as one, used as one, to a web page or a
    mail address, is no refusal."""
    from isap.workbook.documents import DocumentType, check_document

    verdict = check_document(hostile.hyperlink_typed_picture_docx(as_hyperlink=True, target=target), Policy())
    assert verdict.accepted and verdict.type is DocumentType.DOCX


@pytest.mark.parametrize("target", ["file:///\\\\attacker.example\\share\\annex.docx",
                                    "\\\\attacker.example\\share\\annex.docx", "ms-msdt:/id PCWDiagnostic",
                                    "search-ms:crumb=location:\\\\srv\\s", "annex.docx"])
def test_a_document_whose_hyperlink_is_not_a_web_or_mail_address_is_refused(target):
    """As in a PDF (decision record 0060): Word hands a link of any other scheme to the system when it is clicked
    (a file share sends the reader's sign-in; `ms-msdt:` ran a program), and the reviewer cannot see where it
    goes before clicking."""
    from isap.workbook.documents import check_document

    verdict = check_document(hostile.hyperlink_typed_picture_docx(as_hyperlink=True, target=target), Policy())
    assert not verdict.accepted
    assert verdict.refusal.startswith("the document contains a link that is not a web or mail address ('")


@pytest.mark.parametrize("code", ['HYPERLINK "https://www.england.nhs.uk/"', 'HYPERLINK \\l "annex_b"',
                                  ' HYPERLINK "mailto:icb@nhs.net" \\o "Write to us"'])
def test_a_hyperlink_field_to_a_web_page_a_mail_address_or_within_the_document_is_accepted(code):
    from isap.workbook.documents import DocumentType, check_document

    verdict = check_document(hostile.hyperlink_field_docx(code), Policy())
    assert verdict.accepted and verdict.type is DocumentType.DOCX


def test_a_pdf_with_links_within_it_and_to_the_web_is_accepted():
    from isap.workbook.documents import DocumentType, check_document

    verdict = check_document(hostile.plain_links_pdf(), Policy())
    assert verdict.accepted and verdict.type is DocumentType.PDF


def test_a_pdf_whose_object_streams_stay_within_the_limit_is_accepted():
    from isap.workbook.documents import DocumentType, check_document

    verdict = check_document(hostile.object_streams_pdf(2, 4_000_000), Policy())
    assert verdict.accepted and verdict.type is DocumentType.PDF


def test_a_document_is_checked_within_its_own_processor_budget():
    """A chain of cross-reference streams makes pypdf inflate each (3.8 s of processor time from 1.2 MB, and a
    file of the size limit could hold twenty times as many): what no limit of the reader's bounds, the
    evidence budget does, below a workbook's."""
    from isap.workbook.documents import check_document

    assert check_document(hostile.cross_reference_chain_pdf(3, 1_000_000), Policy()).accepted  # a readable PDF
    verdict = check_document(hostile.cross_reference_chain_pdf(30, 30_000_000), Policy(max_evidence_cpu_seconds=0.5))
    assert verdict.refusal == ("the document could not be checked within the limits: it used more than the 0.5 seconds "
                               "of processor time allowed")


def test_the_type_is_judged_by_content_never_by_the_name():
    from isap.workbook.documents import DocumentType, check_document

    policy = Policy()
    assert [check_document(d, policy).type for d in (sample_pdf(), sample_docx(), sample_xlsx())] == [
        DocumentType.PDF, DocumentType.DOCX, DocumentType.XLSX]
    for other in (b"name,value\n1,2\n", b"\x89PNG\r\n\x1a\n" + bytes(100), hostile.OLE_MAGIC + bytes(1000)):
        verdict = check_document(other, policy)
        assert verdict.type is None and verdict.refusal


# ---------------------------------------------------------------------- attach, list, download

def book(tmp_path, cp=1, name="w.xlsx") -> bytes:
    return write(clean(cp, "Partially integrated", "NHS trust", REF), tmp_path / name).read_bytes()


def attach(service, kind, reference, data=None, user="alice", **kw):
    return service.attach_evidence(user, REF, f"{kind}.pdf", data or sample_pdf(kind), kind,
                                   kind.replace("_", " ").capitalize(), reference, **kw)


def test_a_document_is_kept_byte_for_byte_listed_and_downloaded(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    data = sample_docx("Minutes of the ICB board, 15 September 2026.")
    row = service.attach_evidence("alice", REF, "board minutes.docx", data, "Commissioner board paper",
                                  "ICB board minutes", "  ICB board   minutes 2026-09 ")
    assert (row["kind"], row["reference"], row["type"], row["size"], row["sha256"], row["attached_by"]) == (
        "commissioner_board_paper", "ICB board minutes 2026-09", "docx", len(data),
        hashlib.sha256(data).hexdigest(), "alice")
    assert [d["title"] for d in service.evidence_list("rita", REF)] == ["ICB board minutes"]
    got = service.evidence_download("rita", REF, "icb BOARD minutes 2026-09")
    assert (got.data, got.filename, got.media_type) == (
        data, "board minutes.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    [event] = [h for h in service.show("rita", REF)["history"] if h["action"] == "attach_evidence"]
    assert event["actor"] == "alice" and hashlib.sha256(data).hexdigest() in event["reason"]


@pytest.mark.parametrize("given, kept", [
    ("board-paper.hta", "board-paper.pdf"), ("board-paper.html", "board-paper.pdf"),
    ("Board Paper.PDF", "Board Paper.PDF"), ("minutes", "minutes.pdf"), (".pdf.exe", ".pdf.pdf")])
def test_a_document_is_kept_and_downloaded_under_the_extension_of_its_type(service, tmp_path, given, kept):
    """Found by a fresh attack: a PDF that was also an HTML application, attached as `board-paper.hta`, was kept
    and downloaded under that name, and a reviewer opening it would have run it as a program."""
    service.upload("alice", "v1.xlsx", book(tmp_path))
    service.attach_evidence("alice", REF, given, sample_pdf("Board paper"), "Commissioner board paper",
                            "ICB board paper", "Board paper")
    got = service.evidence_download("rita", REF, "Board paper")
    assert (got.filename, got.media_type) == (kept, "application/pdf")


def test_who_may_attach_and_what_is_refused(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    attach(service, "engagement_report", "Engagement report 2026")
    with pytest.raises(Refused, match="already has an evidence document with the reference “Engagement report "
                                      "2026”"):
        attach(service, "other", "ENGAGEMENT report 2026")
    with pytest.raises(Forbidden, match="only commissioners and administrators may attach an evidence document"):
        attach(service, "other", "A", user="rita")
    with pytest.raises(NotFound, match="no proposal ISAP-2026-014 that you can see"):
        attach(service, "other", "A", user="otto")
    with pytest.raises(WorkflowError, match="is not a kind of evidence"):
        attach(service, "board_minutes", "B")
    with pytest.raises(Refused, match="^macro.docx was not attached: the document contains macros"):
        service.attach_evidence("alice", REF, "macro.docx", hostile.macro_docx(), "other", "Macro", "C")
    with pytest.raises(Refused, match="not a later one"):
        attach(service, "other", "D", checkpoint=2)
    attach(service, "other", "Admin's note", user="ada")
    service.submit("alice", REF)
    with pytest.raises(Refused, match="only a draft or returned proposal can be given evidence documents"):
        attach(service, "other", "E")
    with pytest.raises(NotFound, match="no evidence document with the reference “F”"):
        service.evidence_download("alice", REF, "F")
    with pytest.raises(NotFound):
        service.evidence_download("otto", REF, "Engagement report 2026")
    assert [d["reference"] for d in service.evidence_list("alice", REF)] == ["Engagement report 2026",
                                                                              "Admin's note"]


def test_the_serving_process_survives_the_whole_hostile_suite(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    for name, (make, words) in HOSTILE.items():
        with pytest.raises(Refused) as refused:
            service.attach_evidence("alice", REF, name, make(), "other", name, name)
        assert words in str(refused.value)
    assert service.evidence_list("alice", REF) == []  # nothing refused was kept
    attach(service, "other", "After the suite")
    assert len(service.evidence_list("alice", REF)) == 1


# ---------------------------------------------------------------------- storage quotas

def another_version(tmp_path) -> bytes:
    p = clean(1, "Partially integrated", "NHS trust", REF)
    p["Cover"]["proposal_title"] = "Dudley integrated care provider, second draft"
    return write(p, tmp_path / "v2.xlsx").read_bytes()


def _with_policy(service, **values):
    from isap.review.service import Service

    return Service(service.engine, service.files, Policy(**values))


def test_documents_count_against_the_proposals_storage_quota(service, tmp_path):
    workbook, first, second = book(tmp_path), sample_pdf("First paper"), sample_pdf("Second paper")
    svc = _with_policy(service, max_proposal_bytes=len(workbook) + len(first) + len(second) // 2)
    svc.upload("alice", "v1.xlsx", workbook)
    attach(svc, "other", "First", data=first)
    with pytest.raises(Refused, match=rf"^{REF} already keeps 1 version\(s\) and 1 evidence document\(s\) "
                                      r".*this document of .* would pass the proposal's storage quota of .* "
                                      r"\(policy max_proposal_bytes\)"):
        attach(svc, "other", "Second", data=second)
    assert [d["reference"] for d in svc.evidence_list("alice", REF)] == ["First"]
    assert not svc.files.has(hashlib.sha256(second).hexdigest())
    # the document kept counts against the next version too
    with pytest.raises(Refused, match="max_proposal_bytes"):
        svc.upload("alice", "v2.xlsx", another_version(tmp_path))


def test_documents_count_against_the_organisations_storage_quota(service, tmp_path):
    workbook, paper = book(tmp_path), sample_pdf("A paper")
    svc = _with_policy(service, max_organisation_bytes=len(workbook) + len(paper) + 100)
    svc.upload("alice", "v1.xlsx", workbook)
    attach(svc, "other", "First", data=paper)
    with pytest.raises(Refused, match=r"already keeps .*this document of .* would pass the organisation's storage "
                                      r"quota of .* \(policy max_organisation_bytes\)"):
        attach(svc, "other", "Second", data=sample_pdf("Another paper"))
    with pytest.raises(Refused, match="max_organisation_bytes"):  # and against the organisation's next upload
        svc.stage_uploads("alice", [("v2.xlsx", another_version(tmp_path))])
    assert [d["reference"] for d in svc.evidence_list("alice", REF)] == ["First"]


# ---------------------------------------------------------------------- reports, letters and `isap show`

# a file name that would be markup if anything interpreted it (no "/": the store keeps a name's last part)
MARKUP_NAME = "<img src=x> **bold** [x](js:y) _it_.pdf"
BOARD_PAPER = sample_pdf("ICB board paper", "Minutes of the ICB board, 15 September 2026.")


def decided_with_evidence(service, tmp_path) -> str:
    """A proposal decided at checkpoint 1 with one document attached by a commissioner with a display name; the
    document's SHA-256."""
    service.set_user_details("alice", display_name="Alice Okafor", job_title="Director of Strategy")
    service.upload("alice", "v1.xlsx", book(tmp_path))
    service.attach_evidence("alice", REF, MARKUP_NAME, BOARD_PAPER, "commissioner_board_paper",
                            "ICB board paper, September", "ICB board 2026-09")
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Sound.")
    return hashlib.sha256(BOARD_PAPER).hexdigest()


def pdf_words(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def test_show_lists_the_evidence_with_who_attached_it_by_name(service, tmp_path):
    sha = decided_with_evidence(service, tmp_path)
    [e] = service.show("rita", REF)["evidence"]
    assert (e["title"], e["kind"], e["kind_label"], e["filename"], e["size"], e["sha256"], e["checkpoint"],
            e["attached_by"], e["attached_by_name"]) == (
        "ICB board paper, September", "commissioner_board_paper", "Commissioner board paper", MARKUP_NAME,
        len(BOARD_PAPER), sha, 1, "alice", "Alice Okafor, Director of Strategy")
    assert e["attached_at"]


@pytest.mark.parametrize("output", ["html report", "pdf report", "pdf letter"])
def test_reports_and_letters_list_the_checkpoints_evidence_as_plain_text(service, tmp_path, output):
    from isap.outputs.assurance_report import render_report
    from isap.outputs.letters import render_letter_pdf, render_report_pdf
    from isap.review import wording

    sha = decided_with_evidence(service, tmp_path)
    if output == "html report":
        html = render_report(service, "rita", REF, 1)
        section = html[html.index("<h2>Evidence documents</h2>"):]
        section = section[:section.index("<h2>", 4)]
        assert "&lt;img src=x&gt; **bold** [x](js:y) _it_.pdf" in section
        assert "<img" not in html
        text = " ".join(section.replace("&#39;", "'").split())
    else:
        render = render_report_pdf if output == "pdf report" else render_letter_pdf
        text = pdf_words(render(service, "rita", REF, 1))
        assert MARKUP_NAME in text
    for words in ("ICB board paper, September", "Commissioner board paper", wording.size(len(BOARD_PAPER)),
                  sha[:12], "Alice Okafor, Director of Strategy"):
        assert words in text, (words, text)
    assert sha not in text  # the prefix names it; the history holds the whole digest


def test_the_letter_is_signed_on_its_first_page_and_its_evidence_follows_as_an_annex(service, tmp_path):
    """The sign-off follows the decision, not the list of documents: it never falls alone onto a page."""
    import io

    from pypdf import PdfReader

    from isap.outputs.letters import render_letter_pdf

    decided_with_evidence(service, tmp_path)
    pages = [" ".join(page.extract_text().split())
             for page in PdfReader(io.BytesIO(render_letter_pdf(service, "rita", REF, 1))).pages]
    assert "Yours sincerely" in pages[0] and "Conditions" in pages[0], pages
    whole = " ".join(pages)
    assert whole.index("Yours sincerely") < whole.index("Evidence considered")
    assert pages[0].split()[:6] == ["NHS", "England", "and", "NHS", "Improvement", "Integrated"], pages[0][:80]


def test_a_report_lists_only_the_evidence_of_its_checkpoint(service, tmp_path):
    from isap.outputs.assurance_report import report_context

    decided_with_evidence(service, tmp_path)
    service.upload("alice", "v2.xlsx", book(tmp_path, cp=2, name="w2.xlsx"))
    attach(service, "financial_model", "Financial model 2027")
    assert [e["title"] for e in report_context(service, "rita", REF, 1)["evidence"]] == [
        "ICB board paper, September"]
    assert [e["title"] for e in report_context(service, "rita", REF, 2)["evidence"]] == ["Financial model"]


# ---------------------------------------------------------------------- documents given with a query's answer

def asked(service, tmp_path) -> int:
    """A proposal in review at checkpoint 1 with one document attached and a query waiting for its answer."""
    service.upload("alice", "v1.xlsx", book(tmp_path))
    attach(service, "engagement_report", "Engagement report 2026")
    service.submit("alice", REF)
    take(service, "rita", REF)
    return service.raise_query("rita", REF, "Who was asked about the changes to community nursing?")


def short_id(service, reference: str) -> str:
    row = next(d for d in service.evidence_list("alice", REF) if d["reference"] == reference)
    return wording.evidence(row)["sha256"].rstrip("…")


def test_an_answer_names_attached_documents_and_attaches_new_ones(service, tmp_path):
    from isap.review.evidence import EvidenceInput

    number = asked(service, tmp_path)
    survey = sample_pdf("Resident survey", "412 residents answered.")
    service.answer_query("alice", REF, number, "The engagement report, and the survey attached.",
                         documents=[short_id(service, "Engagement report 2026").upper()],
                         attachments=[EvidenceInput("survey.pdf", survey, "engagement_report", "Resident survey",
                                                    "Resident survey 2026")])
    [q] = service.show("rita", REF)["queries"]
    assert [m["documents"] for m in q["thread"]][0] == []
    assert [(d["reference"], d["title"], d["sha256"]) for d in q["thread"][1]["documents"]] == [
        ("Engagement report 2026", "Engagement report", hashlib.sha256(sample_pdf("engagement_report")).hexdigest()),
        ("Resident survey 2026", "Resident survey", hashlib.sha256(survey).hexdigest())]
    # the new one is evidence like any other: listed, for the proposal's checkpoint, downloadable
    kept = {d["reference"]: d for d in service.evidence_list("rita", REF)}
    assert kept["Resident survey 2026"]["checkpoint"] == 1
    assert service.evidence_download("rita", REF, "Resident survey 2026").data == survey
    [event] = [h for h in service.show("rita", REF)["history"] if h["action"] == "query_answered"]
    assert "Engagement report 2026" in event["reason"] and "Resident survey 2026" in event["reason"]


def test_an_answer_with_a_document_it_cannot_give_keeps_nothing(service, tmp_path):
    from isap.review.evidence import EvidenceInput

    number = asked(service, tmp_path)
    for kw, error, words in [
        ({"documents": ["0123456789ab"]}, NotFound, "no evidence document whose SHA-256 begins 0123456789ab"),
        ({"documents": ["12ab"]}, WorkflowError, "at least 8 of its characters"),
        ({"documents": ["not hex!"]}, WorkflowError, "at least 8 of its characters"),
        ({"attachments": [EvidenceInput("macro.docx", hostile.macro_docx(), "other", "Macro", "Macro")]}, Refused,
         "macro.docx was not attached: the document contains macros"),
        ({"attachments": [EvidenceInput("again.pdf", sample_pdf("x"), "other", "Again", "ENGAGEMENT report 2026")]},
         Refused, "already has an evidence document with the reference"),
    ]:
        with pytest.raises(error, match=words):
            service.answer_query("alice", REF, number, "See attached.", **kw)
    [q] = service.show("rita", REF)["queries"]
    assert (q["status"], len(q["thread"])) == ("awaiting_answer", 1)
    assert [d["reference"] for d in service.evidence_list("rita", REF)] == ["Engagement report 2026"]


def test_the_command_line_answers_with_documents_and_the_report_shows_them(service, cli, tmp_path):
    from isap.outputs.letters import render_report_pdf

    number = asked(service, tmp_path)
    survey = tmp_path / "survey.pdf"
    survey.write_bytes(sample_pdf("Resident survey"))
    r = cli("query", "answer", REF, str(number), "See the report and the survey.", "--as", "alice",
            "--document", short_id(service, "Engagement report 2026"), "--attach", str(survey), "--kind",
            "engagement_report", "--title", "Resident survey", "--reference", "Resident survey 2026")
    assert r.exit_code == 0, r.output
    r = cli("show", REF, "--as", "rita")
    assert "with Engagement report (engagement_report.pdf" not in r.output  # listed by title and short id
    assert re.search(r"\(answer\): See the report and the survey\.\n +Documents: Engagement report "
                     r"\([0-9a-f]{12}…\), Resident survey \([0-9a-f]{12}…\)", r.output), r.output
    words = pdf_words(render_report_pdf(service, "rita", REF, 1))
    assert "Documents: Engagement report" in words and "Resident survey (" in words
    r = cli("query", "answer", REF, str(number), "Again.", "--as", "alice", "--attach", str(survey))
    assert r.exit_code != 0 and "--attach needs --kind, --title and --reference" in r.output, r.output


# ---------------------------------------------------------------------- the submit guard

def at_checkpoint_2(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    service.submit("alice", REF)  # checkpoint 1 needs no evidence by default (the guard starts at checkpoint 2)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Sound.")
    service.upload("alice", "v2.xlsx", book(tmp_path, cp=2, name="w2.xlsx"))


def test_from_checkpoint_2_submit_lists_every_missing_reference_and_kind(service, tmp_path):
    at_checkpoint_2(service, tmp_path)
    with pytest.raises(Refused) as refused:
        service.submit("alice", REF)
    words = str(refused.value)
    # the ten clauses one document would answer read as one group, with that document's reference (decision 0044)
    clauses = f"“{CONTRACT}, clause 1” to “{CONTRACT}, clause 10” (10 references)"
    assert words == (f"no evidence document is attached for the evidence_references {clauses} of version 2: attach "
                     f"each with that reference (one document referenced “{CONTRACT}” covers all 10); checkpoint 2 "
                     "needs evidence documents that are not attached for it: "
                     "Commissioner board paper, Engagement report, Provider board paper, Integration agreement and "
                     "Financial model")
    assert "attach for checkpoint 2" in service.show("alice", REF)["next_step"]
    attach(service, "integration_agreement", CONTRACT)  # names all ten clauses
    attach(service, "commissioner_board_paper", "ICB board paper")
    attach(service, "provider_board_paper", "Provider board paper")
    attach(service, "engagement_report", "Engagement report")
    with pytest.raises(Refused, match="^checkpoint 2 needs evidence documents that are not attached for it: "
                                      "Financial model$"):
        service.submit("alice", REF)
    service.attach_evidence("alice", REF, "model.xlsx", sample_xlsx(), "financial_model", "Financial model", "FM")
    service.submit("alice", REF)
    assert service.show("alice", REF)["state"] == "submitted"


def test_a_document_of_an_earlier_checkpoint_names_a_reference_but_not_a_kind(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    attach(service, "integration_agreement", CONTRACT)  # for checkpoint 1
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Sound.")
    service.upload("alice", "v2.xlsx", book(tmp_path, cp=2, name="w2.xlsx"))
    with pytest.raises(Refused) as refused:
        service.submit("alice", REF)
    assert "evidence_reference" not in str(refused.value) and "Integration agreement" in str(refused.value)


def test_the_policy_names_kinds_and_where_the_guard_starts():
    from isap.policy import PolicyError
    from isap.policy.evidence import EvidenceKind

    assert Policy().required_evidence(1) == ()
    assert Policy(evidence_guard_from_checkpoint=1).required_evidence(1) == (
        EvidenceKind.COMMISSIONER_BOARD_PAPER, EvidenceKind.ENGAGEMENT_REPORT)
    assert EvidenceKind.MOBILISATION_PLAN in Policy().required_evidence(3)
    with pytest.raises(ValueError, match="'board_minutes' is not a kind of evidence"):
        Policy(evidence_required_at_checkpoint_2=("board_minutes",))
    assert issubclass(PolicyError, ValueError)


def test_a_reference_names_a_document_by_its_start_and_a_separator():
    from isap.review.evidence_references import names, reference_key, unnamed

    key = reference_key("ICP contract  schedule 7")
    assert names("icp contract schedule 7, clause 3", key) and names("ICP contract schedule 7", key)
    assert not names("ICP contract schedule 70", key) and not names("ICP contract", key)
    assert unnamed(["A, 1", "a,  1", "B"], [reference_key("A")]) == ("B",)


# ---------------------------------------------------------------------- the command line

@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from isap.cli import app
    from isap.workbook import isolation

    monkeypatch.setenv("ISAP_DATABASE_URL", db_url)
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    # `isap evidence add` forks its checking child, as a one-shot command does; the test process goes back after
    monkeypatch.setattr(isolation, "_CONTEXT", isolation._CONTEXT)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    isolation.shutdown()


def test_the_command_line_adds_lists_and_downloads_and_refuses_in_one_line(service, cli, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    paper = tmp_path / "paper.docx"  # a PDF, whatever its name says
    paper.write_bytes(sample_pdf("Board paper"))
    r = cli("evidence", "add", REF, str(paper), "--kind", "commissioner_board_paper", "--title", "ICB board paper",
            "--reference", "ICB board 2026-09", "--as", "alice")
    assert r.exit_code == 0, r.output
    assert "Attached “ICB board 2026-09” (Commissioner board paper, PDF) to ISAP-2026-014 for checkpoint 1" in r.output
    r = cli("evidence", "list", REF, "--as", "rita", "-f", "json")
    assert r.exit_code == 0 and '"reference": "ICB board 2026-09"' in r.output
    r = cli("show", REF, "--as", "rita", "-f", "json")
    [shown] = __import__("json").loads(r.output)["evidence"]
    assert (shown["reference"], shown["filename"], shown["attached_by_name"]) == ("ICB board 2026-09", "paper.pdf",
                                                                                 "alice")
    r = cli("show", REF, "--as", "rita")
    assert r.exit_code == 0, r.output
    assert (f"    cp1 Commissioner board paper: ICB board paper (paper.pdf, {wording.size(paper.stat().st_size)}, "
            f"SHA-256 {hashlib.sha256(paper.read_bytes()).hexdigest()[:12]}…) attached by alice") in r.output, r.output
    out = tmp_path / "got.pdf"
    r = cli("evidence", "download", REF, "ICB board 2026-09", "--out", str(out), "--as", "rita")
    assert r.exit_code == 0 and out.read_bytes() == paper.read_bytes()
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(hostile.zip_bomb_docx())
    for args, words in [
        (("add", REF, str(bomb), "--kind", "other", "--title", "T", "--reference", "R"), "a possible zip bomb"),
        (("add", REF, str(tmp_path / "missing.pdf"), "--kind", "other", "--title", "T", "--reference", "R"),
         "cannot read"),
        (("add", REF, str(paper), "--kind", "minutes", "--title", "T", "--reference", "R"), "not a kind of evidence"),
        (("download", REF, "nothing", "--out", str(out)), "no evidence document with the reference “nothing”"),
    ]:
        r = cli("evidence", *args, "--as", "alice")
        assert r.exit_code != 0 and words in r.output and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1, r.output
