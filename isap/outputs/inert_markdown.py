"""Outside text made inert in Markdown: the one escaper for the dashboard and the Markdown report.

Proposal titles, comments, condition texts, rationales, file and sheet names and finding messages
come from a workbook or a person.  Wherever they meet Markdown (every Streamlit text call, the
Markdown report a CI job posts) they must show as exactly the text they are: never an image
fetched from an attacker's server, a link, HTML, a table cell or emphasis.
"""

from __future__ import annotations

import re
import string

from isap.text import visible_marks

# Every ASCII punctuation character may be backslash-escaped in CommonMark and then stands for
# itself; escaping all of them is simpler to trust than choosing the dangerous ones, and also
# covers Streamlit's own additions (`:red[…]` colours, `$…$` LaTeX).
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# GitHub-flavoured Markdown turns bare URLs, `www.` names and e-mail addresses into links after
# escapes are resolved, so escaping alone does not stop them: a WORD JOINER (invisible, zero
# width) breaks the patterns the linkifier looks for without changing what a reader sees.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(?=\\:\\/\\/)|(?<=www)(?=\\\.)|(?<=\\@)")
_LEADING_SPACE = re.compile(r"^[ \t]+", re.MULTILINE)
_LINE_BREAK = re.compile(r"\r\n?|\n|[\u2028\u2029\x0b\x0c\x85]")
# other control characters would end a table row or heading, or reach a terminal
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def inert_markdown(value: object, limit: int | None = None, one_line: bool = False) -> str:
    """`value` as Markdown source that renders as exactly its text, nothing more.

    Text past `limit` characters is cut with an ellipsis.  With `one_line` (a table cell, a
    heading) line breaks become spaces; otherwise they are kept as hard breaks, and leading
    spaces are dropped so that no line can become an indented code block.
    """
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    text = visible_marks(_CONTROL.sub(" ", text))  # a right-to-left override would disguise the text around it
    text = _PUNCTUATION.sub(r"\\\1", text)
    text = _AUTOLINK.sub(WORD_JOINER, text)
    if one_line:
        return " ".join(_LINE_BREAK.split(text)).strip()
    lines = _LINE_BREAK.split(_LEADING_SPACE.sub("", text))
    return "  \n".join(line.strip() for line in lines if line.strip())
