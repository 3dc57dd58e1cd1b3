"""PDF documents for commissioners: the checkpoint assurance report and the decision letter.

NHS England's checkpoint decisions go to commissioners as letters, and people
file and forward PDFs, so both documents exist as PDF as well as HTML.  They
are laid out with fpdf2 (pure Python, so the README's install still needs
nothing but Python) in DejaVu Sans, taken from the font files matplotlib
ships, so "£", "—" and names in any European script print as written; STIX
(also from matplotlib) draws signs DejaVu lacks, and a character neither has
is drawn as □, never silently left out.  Bidirectional controls are printed
as their code points (⟨U+202E⟩), so they cannot disguise a title or rationale.

Every piece of text from a workbook or a person goes through fpdf2's plain
text calls (never `write_html` or markdown), clipped to a bounded length,
and the page-count alias is a random token per document, so no submitted
text is interpreted as markup or rewritten.
"""

from __future__ import annotations

import importlib.util
import math
import secrets
from pathlib import Path

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, TableCellFillMode

from isap.outputs.assurance_report import rating_words, report_context
from isap.review import wording
from isap.review.lifecycle import Outcome, QueryStatus, QueryStep, WaiverStatus
from isap.review.service import NotFound, Service
from isap.text import visible_marks

FONT = "DejaVuSans"
FALLBACK_FONT = "STIXGeneral"
MISSING_GLYPH = "□"  # U+25A1, which DejaVu Sans has: a character no font here can draw stays visibly missing
NHS_BLUE = (0, 94, 184)
TEXT = (33, 43, 50)
MUTED = (76, 98, 114)
GREY_FILL = (240, 244, 245)
RATING_FILL = {"green": (213, 240, 220), "amber": (255, 233, 179), "red": (246, 200, 200)}
MAX_CELL = 3000  # characters of any one submitted text shown; the rest is marked as cut


class FontsMissing(RuntimeError):
    """The DejaVu Sans font files are not installed (matplotlib ships them)."""


def font_dir() -> Path:
    # find matplotlib's data folder without importing matplotlib (which is slow and not needed)
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise FontsMissing("the PDF fonts come with matplotlib, which is not installed")
    folder = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"
    if not (folder / "DejaVuSans.ttf").is_file():
        raise FontsMissing(f"DejaVu Sans is missing from {folder}")
    return folder


def _clip(value, limit: int = MAX_CELL) -> str:
    text = "" if value is None else str(value)
    # control characters other than newline/tab have no glyph and only garble the line
    text = "".join(ch if ch in "\n\t" or ch >= " " else " " for ch in text[: limit + 1])
    return text if len(text) <= limit else text[:limit] + " … [cut]"


def _long_date(iso: str | None) -> str:
    return wording.long_day(iso)


class _Document(FPDF):
    def __init__(self, title: str, footer_left: str, footer_right: str = ""):
        super().__init__(orientation="P", unit="mm", format="A4")
        folder = font_dir()
        self.add_font(FONT, "", str(folder / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(folder / "DejaVuSans-Bold.ttf"))
        self.add_font(FONT, "I", str(folder / "DejaVuSans-Oblique.ttf"))
        self.add_font(FONT, "BI", str(folder / "DejaVuSans-BoldOblique.ttf"))
        self._font_folder = folder
        # a token no submitted text can contain, so only our footer gets the page count
        self._alias = "{pages-" + secrets.token_hex(8) + "}"
        self.alias_nb_pages(self._alias)
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=20)
        self.set_title(title)
        self.set_author("NHS England — Integrated Support and Assurance Process")
        self.set_creator("isap")
        self._footer_left, self._footer_right = footer_left, footer_right
        self.set_text_color(*TEXT)
        self.set_font(FONT, "", 10)

    def normalize_text(self, text: str) -> str:
        """Every text fpdf2 draws passes here: bidirectional controls are shown as their code points (they would
        reorder the text around them), and a character no font here has is drawn as □ rather than dropped."""
        text = visible_marks(text)
        if not text.isascii():
            text = "".join(c if self._has_glyph(c) else MISSING_GLYPH for c in text)
        return super().normalize_text(text)

    def _has_glyph(self, c: str) -> bool:
        if c in "\n\t" or c.isascii():
            return True
        code = ord(c)
        if code in self.current_font.cmap:
            return True
        if not self._fallback_font_ids:
            # what DejaVu Sans lacks (many mathematical and technical signs) STIX, also shipped by matplotlib, may
            # have; loaded only when needed, since reading the font costs about half a second
            self.add_font(FALLBACK_FONT, "", str(self._font_folder / "STIXGeneral.ttf"))
            self.set_fallback_fonts([FALLBACK_FONT], exact_match=False)
        return any(code in self.fonts[f].cmap for f in self._fallback_font_ids)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*MUTED)
        width = self.epw
        self.cell(width * 0.75, 4, self._footer_left, new_x="RIGHT", new_y="TOP")
        self.cell(width * 0.25, 4, f"Page {self.page_no()} of {self._alias}", align="R",
                  new_x="LMARGIN", new_y="NEXT")
        if self._footer_right:
            self.cell(width, 4, self._footer_right, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*TEXT)

    # text helpers: all plain text, never markup
    def para(self, text, size: float = 10, style: str = "", gap: float = 2.5, color=TEXT, h: float | None = None):
        self.set_font(FONT, style, size)
        self.set_text_color(*color)
        self.multi_cell(0, h or size * 0.5, _clip(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*TEXT)
        self.ln(gap)

    def heading(self, text: str, size: float = 12.5) -> None:
        if self.will_page_break(size * 2.2):
            self.add_page()
        self.ln(2)
        self.set_font(FONT, "B", size)
        self.set_text_color(*NHS_BLUE)
        self.multi_cell(0, size * 0.5, _clip(text), align="L", new_x="LMARGIN", new_y="NEXT")
        y = self.get_y() + 0.8
        self.set_draw_color(*NHS_BLUE)
        self.set_line_width(0.5)
        self.line(self.l_margin, y, self.w - self.r_margin, y)
        self.set_line_width(0.2)
        self.set_text_color(*TEXT)
        self.ln(3)

    def _fit(self, value, width: float, size: float) -> str:
        """The text clipped so that its table cell fits on one page (fpdf2 cannot split a row)."""
        text = _clip(value)
        usable = max(width - 3, 4)
        max_lines = int((self.eph - 40) / (size * 0.5))

        def lines(t: str) -> int:
            # 1.2: room for what word wrapping wastes at line ends
            return sum(max(1, math.ceil(self.get_string_width(part) * 1.2 / usable)) for part in t.split("\n"))

        if lines(text) <= max_lines:
            return text
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if lines(text[:mid] + " … [cut]") <= max_lines:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo] + " … [cut]"

    def table_of(self, headings: list[str] | None, rows: list[list], widths: tuple, fills: list[dict] | None = None,
                 size: float = 8.5) -> None:
        """A table whose column widths are in millimetres (narrower than the page if they add up so)."""
        self.set_font(FONT, "", size)
        self.set_draw_color(216, 221, 224)
        self.set_fill_color(255, 255, 255)
        head = FontFace(emphasis="BOLD", fill_color=GREY_FILL, color=TEXT)
        with self.table(col_widths=widths, width=min(sum(widths), self.epw), align="LEFT", text_align="LEFT",
                        headings_style=head, line_height=size * 0.5, padding=1.2,
                        borders_layout=TableBordersLayout.ALL, cell_fill_mode=TableCellFillMode.NONE,
                        first_row_as_headings=bool(headings), markdown=False) as table:
            if headings:
                row = table.row()
                for h in headings:
                    row.cell(h)
            for i, values in enumerate(rows):
                row = table.row()
                for j, v in enumerate(values):
                    fill = (fills[i] or {}).get(j) if fills else None
                    row.cell(self._fit(v, widths[j], size), style=FontFace(fill_color=fill) if fill else None)
        self.ln(3)


def _decision_review(ctx: dict) -> dict:
    # the latest decided review at this checkpoint (a returned proposal is reviewed again)
    decided = [r for r in ctx["p"]["reviews"] if r["checkpoint"] == ctx["checkpoint"] and r.get("decision")]
    if not decided:
        raise NotFound(f"{ctx['p']['reference']} has no decision recorded at checkpoint {ctx['checkpoint']}")
    return decided[-1]


def _ratings_rows(review: dict) -> tuple[list[list], list[dict]]:
    rated = rating_words(review["ratings"], review.get("rated_by"))
    return [[d, r, by] for d, r, _, by in rated], [{1: RATING_FILL.get(code)} for _, _, code, _ in rated]


# --- the checkpoint assurance report -------------------------------------------------------------------------

def _head_text(ctx: dict) -> str:
    anchor = ctx.get("chain_anchor")
    return f"event {anchor['event_id']}, {ctx['chain_head']}" if anchor else ctx["chain_head"]


def _signature_text(anchor: dict) -> str:
    return f"{anchor['when']} by audit key {anchor['key_id']}: {anchor['signature']}"


def report_pdf_from_context(ctx: dict) -> bytes:
    p, cp, version, review = ctx["p"], ctx["checkpoint"], ctx["version"], ctx["review"]
    doc = _Document(f"{p['reference']} — checkpoint {cp} assurance report",
                    f"{p['reference']} · checkpoint {cp} assurance report · generated {ctx['generated']}",
                    f"Audit chain head {ctx['chain_head']}" if ctx.get("chain_head") else "")
    doc.add_page()
    doc.para(f"{p['reference']}: checkpoint {cp} assurance report", size=17, style="B", color=NHS_BLUE, gap=1.5)
    doc.para(f"{p['title']} · lead commissioner {p['commissioner_name']} ({p['commissioner']}) · provider type "
             f"{p.get('provider_type') or 'not given'} · generated {ctx['generated']}", size=9, color=MUTED)

    doc.heading("Proposal")
    words = ctx["words"]
    assessed = (f"version {version['number']}, {version['filename']}, uploaded by {version['uploaded_by']} on "
                f"{words['uploaded']}" if version else "none")
    rows = [["State now", f"{words['state']} (checkpoint {p['checkpoint']})"], ["Version assessed", assessed],
            ["SHA-256", version["sha256"] if version else ""],
            ["Rule catalogue", version["catalogue_version"] if version else ""],
            ["Working days", ctx["calendar"]]]
    if ctx.get("chain_head"):
        rows.append(["Audit chain head", _head_text(ctx)])
    if ctx.get("chain_anchor"):
        rows.append(["Head signed", _signature_text(ctx["chain_anchor"])])
    doc.table_of(None, rows, (30, 140))

    doc.heading("Evidence documents")
    _evidence_table(doc, ctx["evidence"], "None attached for this checkpoint.")

    doc.heading("Findings by domain")
    if not ctx["findings"]:
        doc.para("No findings: the version met every rule checked.")
    for domain, found in ctx["findings_by_domain"]:
        doc.para(domain, size=10.5, style="B", gap=1)
        doc.table_of(["Severity", "Rule", "Where", "Message", "Source"],
                     [[f["severity_label"], f["rule_id"], f["place"],
                       f["message"] + (f"\nWaived by {f['waived']['ruled_by']}: {f['waived']['ruling']}"
                                       if f.get("waived") else ""), f["source_title"]] for f in found],
                     (18, 14, 22, 76, 40))

    doc.heading("Acknowledged warnings")
    if ctx["acknowledged"]:
        doc.table_of(["Rule", "Where", "Commissioner's note", "By"],
                     [[f["rule_id"], f["place"], f["acknowledged"]["note"],
                       f"{f['acknowledged']['by']}, {f['acknowledged']['on']}"] for f in ctx["acknowledged"]],
                     (16, 26, 94, 34))
    else:
        doc.para("None.")

    doc.heading("Waivers")
    _waivers_table(doc, ctx["waivers"])

    doc.heading("Queries")
    if ctx["queries"]:
        for q in ctx["queries"]:
            due = f", due {q['due_date']}" if q["due_date"] else ""
            doc.para(f"Query {q['id']}, on {q['about'] or 'the proposal'}{due}: {QueryStatus(q['status']).label}",
                     style="B", gap=1)
            doc.table_of(["When (UTC)", "Who", "Step", "Text"],
                         [[m["at"][:16].replace("T", " "), m["author"], QueryStep(m["step"]).label,
                           m["text"] + (f"\nDocuments: {m['documents_words']}" if m["documents_words"] else "")]
                          for m in q["thread"]], (30, 22, 20, 98))
    else:
        doc.para("None.")

    doc.heading("Domain ratings and decision")
    if review:
        rows, fills = _ratings_rows(review)
        doc.table_of(["Domain", "Rating", "Rated by"], rows, (50, 30, 90), fills)
        if review.get("decision"):
            dec = review["decision"]
            doc.para(f"Decision: {words['outcome']} on {words['decided_on']}, {_panel_words(dec)}.", style="B")
            doc.para(dec["rationale"])
        else:
            doc.para(f"In review with {review.get('lead') or review['reviewer']}; no decision yet.")
    else:
        doc.para("Not yet reviewed at this checkpoint.")

    doc.heading("Declarations of interests")
    if ctx.get("declarations"):
        doc.table_of(["Reviewer", "Checkpoint", "Declared", "Note"],
                     [[x["name"], x["checkpoint"],
                       f"A conflict of interest with {x['organisation']}: takes no part" if x["conflict"]
                       else "No conflict", x["note"] or ""] for x in ctx["declarations"]], (50, 20, 50, 50))
    else:
        doc.para("None recorded.")

    doc.heading("Conditions")
    if ctx["conditions"]:
        doc.table_of(["#", "Condition", "Owner", "Due", "Status", "Answer / note"],
                     [[c["id"], c["text"], c["owner"], c["due"], c["status_label"],
                       "\n".join(x for x in (c.get("response"), c.get("closing_note")) if x)]
                      for c in ctx["conditions"]], (8, 56, 30, 20, 18, 38))
    else:
        doc.para("None.")

    doc.heading(f"Audit trail for checkpoint {cp}")
    doc.table_of(["When (UK time)", "Who", "What", "Change of state", "Details"],
                 [[h["when"], h["who"], h["what"], h["change"], h["details"]] for h in ctx["history"]],
                 (30, 18, 40, 34, 48))
    policy = (version or {}).get("policy") or {}
    doc.para("Policy values used: " + ", ".join(f"{k}={v}" for k, v in policy.items()), size=8, color=MUTED)
    return bytes(doc.output())


def render_report_pdf(service: Service, actor: str, reference: str, checkpoint: int) -> bytes:
    """The checkpoint assurance report as PDF: the same sections as the HTML report."""
    return report_pdf_from_context(report_context(service, actor, reference, checkpoint))


# --- the decision letter -------------------------------------------------------------------------------------

def _next_steps(outcome: str, cp: int) -> str:
    if outcome == Outcome.APPROVED:
        return ("The proposal is assured: services may start as planned." if cp >= 3 else
                f"You may now prepare the proposal for checkpoint {cp + 1} ({_checkpoint_name(cp + 1)}).")
    if outcome == Outcome.APPROVED_WITH_CONDITIONS:
        after = ("The proposal is assured, subject to the conditions below." if cp >= 3 else
                 f"You may now prepare the proposal for checkpoint {cp + 1} ({_checkpoint_name(cp + 1)}). "
                 "Each condition must be met, or carried forward by NHS England, before that checkpoint's "
                 "submission.")
        return after + " Please answer each condition through the ISAP service by its due date."
    if outcome == Outcome.RETURNED:
        return (f"Please address the points in the rationale below and submit the proposal again for checkpoint "
                f"{cp}.")
    return "The proposal must not proceed. The contract must not be awarded on the basis of this proposal."


def _checkpoint_name(cp: int) -> str:
    return wording.CHECKPOINT_NAMES.get(cp, "")


def _waivers_table(doc: "_Document", waivers: list[dict], size: float = 8.5) -> None:
    """Every waiver asked for at the checkpoint: who asked and why, and who granted or refused it and why."""
    if not waivers:
        doc.para("None.")
        return
    doc.table_of(["No.", "Rule", "Where", "Asked for by, and why", "Status", "Decided by, and why"],
                 [[w["id"], w["rule_id"], w["place"], f"{w['requested_by']}: {w['reason']}",
                   WaiverStatus(w["status"]).label, f"{w['ruled_by']}: {w['ruling']}" if w["ruled_by"] else ""]
                  for w in waivers],
                 (9, 17, 24, 50, 18, 52), size=size)


def _evidence_table(doc: "_Document", evidence: list[dict], none: str, size: float = 8.5) -> None:
    """The documents attached for the checkpoint, each name printed as the text it is."""
    if not evidence:
        doc.para(none, h=size * 0.6)
        return
    doc.table_of(["Title", "Kind", "File", "Size", "SHA-256", "Attached by"],
                 [[e["title"], e["kind"], e["filename"], e["size"], e["sha256"],
                   f"{e['attached_by']}, {e['attached_on']}"] for e in evidence],
                 (35, 26, 34, 14, 27, 34), size=size)


def letter_pdf_from_context(ctx: dict) -> bytes:
    p, cp = ctx["p"], ctx["checkpoint"]
    review = _decision_review(ctx)
    dec, version = review["decision"], ctx["version"]
    outcome = wording.decision_words(dec["outcome"])
    our_ref = f"{p['reference']}/CP{cp}"
    doc = _Document(f"{p['reference']} — checkpoint {cp} decision letter",
                    f"{our_ref} · checkpoint {cp} decision letter",
                    f"Audit chain head {ctx['chain_head']}" if ctx.get("chain_head") else "")
    doc.set_auto_page_break(True, margin=19)
    doc.add_page()

    # sender, right-aligned as on NHS letters (words only: no logo)
    doc.set_font(FONT, "B", 15)
    doc.set_text_color(*NHS_BLUE)
    doc.cell(0, 7, "NHS England and NHS Improvement", align="R", new_x="LMARGIN", new_y="NEXT")  # the joint panel
    doc.set_font(FONT, "", 9)
    doc.set_text_color(*MUTED)
    doc.cell(0, 4.5, "Integrated Support and Assurance Process", align="R", new_x="LMARGIN", new_y="NEXT")
    doc.set_text_color(*TEXT)
    doc.ln(7)

    # addressee on the left, reference and date on the right, on the same band
    top = doc.get_y()
    doc.set_font(FONT, "", 10)
    doc.multi_cell(100, 5, _clip(f"{p['commissioner_name']}\nOrganisation code {p['commissioner']}\n"
                                 "For the attention of the lead commissioner", 400),
                   new_x="LMARGIN", new_y="NEXT")
    bottom = doc.get_y()
    doc.set_xy(doc.w - doc.r_margin - 62, top)
    doc.set_font(FONT, "", 9)
    doc.multi_cell(62, 5, f"Our reference: {our_ref}\nDate: {_long_date(dec['at'])}", align="R",
                   new_x="LMARGIN", new_y="NEXT")
    doc.set_y(max(bottom, doc.get_y()) + 6)

    doc.para("Dear colleague,", gap=4)
    doc.para(f"ISAP checkpoint {cp} ({_checkpoint_name(cp)}) decision: {p['reference']}, {p['title']}",
             style="B", size=11, h=5.5, gap=3)
    assessed = f"version {version['number']} of the proposal workbook" if version else "the proposal"
    doc.para(f"NHS England and NHS Improvement have completed their joint review of {assessed} submitted for "
             f"checkpoint {cp} of the Integrated Support and Assurance Process, and recorded their decision on "
             f"{_long_date(dec['at'])}.", h=5)

    # the outcome, set apart so nobody misses it
    doc.set_fill_color(*GREY_FILL)
    doc.set_draw_color(*NHS_BLUE)
    doc.set_font(FONT, "B", 12)
    doc.cell(0, 9, f"  Decision: {outcome}", border="L", fill=True, new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.para(_next_steps(dec["outcome"], cp), h=5)

    doc.heading("Assurance ratings", size=11)
    rows, fills = _ratings_rows(review)  # who rated each domain is in the assurance report; the letter is signed
    doc.table_of(["Domain", "Rating"], [row[:2] for row in rows], (55, 30), fills, size=9)

    doc.heading("Rationale", size=11)
    doc.para(dec["rationale"], h=5)

    doc.heading("Conditions", size=11)
    conditions = ctx["conditions"]
    if conditions:
        doc.table_of(["No.", "Condition", "Owner", "Due by"],
                     [[c["id"], c["text"], c["owner"], _long_date(c["due_date"])] for c in conditions],
                     (10, 90, 42, 28), size=9)
    else:
        doc.para("This decision carries no conditions.", h=5)

    if doc.will_page_break(30):
        doc.add_page()
    doc.para("Yours sincerely,", gap=3)
    # the panel signs: who proposed the decision and who countersigned it, by name and job title
    doc.para(f"{dec.get('proposed_by') or 'A reviewer'}, who proposed the decision", style="B", gap=0.5)
    if dec.get("countersigned_by"):
        doc.para(f"{dec['countersigned_by']}, who countersigned it", style="B", gap=0.5)
    doc.para("For NHS England and NHS Improvement, Integrated Support and Assurance Process", size=9, color=MUTED,
             gap=4)
    facts = (f"Decision took effect on {wording.when(dec['at'])}, in review since "
             f"{wording.day(review['started_at'])}.")
    if version:
        facts += f" Workbook assessed: {version['filename']} (SHA-256 {version['sha256']})."
    if ctx.get("chain_head"):
        facts += f" Audit chain head: {_head_text(ctx)}."
    if ctx.get("chain_anchor"):
        facts += f" Signed {_signature_text(ctx['chain_anchor'])}."
    doc.para(facts, size=7.5, color=MUTED, h=3.6)

    # what the decision rests on follows the signatures, as an annex: the sign-off stays with the decision it
    # signs, and a letter without documents or waivers keeps to its one page
    if (ctx["evidence"] or ctx["waivers"]) and doc.will_page_break(30):
        doc.add_page()  # a heading never ends a page without its table
    if ctx["evidence"]:
        doc.heading("Evidence considered", size=11)
        _evidence_table(doc, ctx["evidence"], "", size=8.5)
    if ctx["waivers"]:
        doc.heading("Waivers", size=11)
        doc.para("A granted waiver means the error finding it names does not stop a submission at this checkpoint, "
                 "in this version or a later one, while the finding stays the same.", h=5)
        _waivers_table(doc, ctx["waivers"], size=8.5)
    return bytes(doc.output())


def _panel_words(dec: dict) -> str:
    """Who made a decision, by name and job title (never a user name)."""
    words = f"proposed by {dec.get('proposed_by') or 'a reviewer'}"
    return words + (f" and countersigned by {dec['countersigned_by']}" if dec.get("countersigned_by") else "")


def render_letter_pdf(service: Service, actor: str, reference: str, checkpoint: int) -> bytes:
    """The decision letter NHS England sends the commissioner after a checkpoint decision."""
    return letter_pdf_from_context(report_context(service, actor, reference, checkpoint))
