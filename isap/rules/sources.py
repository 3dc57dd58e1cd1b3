"""The documents rules cite, named as a reader knows them.

A rule cites its source by file name and paragraph (`002_beafc3e198b0dad1.txt §34`): that is what
the JSON report and the stored findings keep (docs/workbook.md §3), so that a machine can follow a
finding to the text it enforces. A person cannot tell which guidance a file name is, so everything
shown to a person (the text report, exports, the annotated workbook, the assurance report and
letter, the rule catalogue and the dashboard) names the document by title, publisher and year
instead. This module is the one place that knows both names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from isap.workbook.template import SUPPORTED_VERSIONS


@dataclass(frozen=True)
class Document:
    """A source document as it names itself on its title page."""

    file: str
    title: str
    publisher: str
    year: int

    @property
    def citation(self) -> str:
        return f"{self.title} ({self.publisher}, {self.year})"


DOCUMENTS: dict[str, Document] = {d.file: d for d in (
    Document("000_d2c44084dfb7e1c7.txt",
             "Directions for Integrated Care Providers: consultation on proposed Primary Medical Services "
             "Directions", "Department of Health and Social Care", 2018),
    Document("001_fe4937a85331cf2d.txt", "GP participation in an Integrated Care Provider: ICP Contract Package",
             "NHS England and NHS Improvement", 2019),
    Document("002_beafc3e198b0dad1.txt",
             "Contracting arrangements for integrated care providers — response to consultation", "NHS England",
             2019),
    Document("003_22a63f7275332d78.txt",
             "NHS Clinical Commissioners response to the consultation on contracting arrangements for Integrated "
             "Care Providers", "NHS Clinical Commissioners", 2018),
)}

# WB and SCH findings cite a section of the workbook template itself (docs/workbook.md §4, "Output")
TEMPLATE_PREFIX = "ISAP-WB "
TEMPLATE_TITLE = "ICP proposal workbook template"


def document_name(name: str) -> str | None:
    """The readable name of a cited document (`002_….txt`, `ISAP-WB 1.0`), or None when it is not known."""
    doc = DOCUMENTS.get(name)
    if doc is not None:
        return doc.citation
    if name.startswith(TEMPLATE_PREFIX) and name[len(TEMPLATE_PREFIX):] in SUPPORTED_VERSIONS:
        return f"{TEMPLATE_TITLE} ({name})"
    return None


def cited(source: str) -> list[tuple[str, str]]:
    """`"002_….txt §34, §35; 001_….txt §97c"` → `[("002_….txt", "§34, §35"), ("001_….txt", "§97c")]`."""
    out = []
    for part in source.split(";"):
        part = part.strip()
        if not part:
            continue
        name, mark, paragraphs = part.partition(" §")
        out.append((name.strip(), (mark.strip() + paragraphs).strip()))
    return out


def unknown_documents(source: str) -> list[str]:
    """The names in a source that no catalogue entry explains (a rule citing one is a defect)."""
    return [name for name, _ in cited(source) if document_name(name) is None]


@lru_cache(maxsize=512)
def title_and_paragraphs(source: str | None) -> tuple[str, str]:
    """A source split for a machine that shows it to a person: the documents' titles and the paragraphs.

    `"002_beafc3e198b0dad1.txt §34"` → `("Contracting arrangements … (NHS England, 2019)", "§34")`.  A
    source citing several documents gives each part in the same order, joined by `; `."""
    parts = cited(source or "")
    return ("; ".join(document_name(name) or name for name, _ in parts),
            "; ".join(paragraphs for _, paragraphs in parts))


@lru_cache(maxsize=512)  # a report repeats the same few sources on thousands of findings
def readable(source: str | None) -> str:
    """A source as a person reads it: each document by title, publisher and year, then its paragraphs.

    `"002_beafc3e198b0dad1.txt §34"` → `"Contracting arrangements for integrated care providers — response
    to consultation (NHS England, 2019) §34"`. A name the catalogue does not know is shown as it is."""
    if not source:
        return ""
    return "; ".join(" ".join(x for x in (document_name(name) or name, paragraphs) if x)
                     for name, paragraphs in cited(source))
