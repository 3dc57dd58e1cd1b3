"""Inert text for the dashboard: the one place where outside text meets Markdown.

Streamlit interprets Markdown almost everywhere it shows a string: `st.markdown`
and `st.write`, captions, the bodies of `st.info`/`st.success`/`st.warning`/
`st.error` and toasts, and the labels of expanders, metrics, tabs, buttons and
widgets.  Proposal titles, comments, condition texts, answers, rationales,
notes, field and file names, finding messages and organisation names all come
from a workbook or a person, so shown raw they could fetch an attacker's image
from the reviewer's browser (`![x](http://…)`) or show a phishing link.

Pages therefore never interpolate outside text into those calls themselves:
they build every such string with `fmt` (or `md` for a single value), which
escapes each interpolated value so that it shows as exactly the text it is.
A test reads the dashboard's source and fails if an f-string, `%` or
`.format` reaches a Markdown-interpreting call, so a page cannot forget.
"""

from __future__ import annotations

import re
import string

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and
# escaping all of them is simpler to trust than choosing the dangerous ones:
# it also covers Streamlit's own additions (`:red[…]` colours, `$…$` LaTeX).
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# GitHub-flavoured Markdown turns bare URLs, `www.` names and e-mail addresses
# into links after escapes are resolved, so escaping alone does not stop them:
# a WORD JOINER (invisible, zero width) breaks the patterns the linkifier looks
# for without changing what a reader sees.
_WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(?=\\:\\/\\/)|(?<=www)(?=\\\.)|(?<=\\@)")
_LEADING_SPACE = re.compile(r"^[ \t]+", re.MULTILINE)
_LINE_BREAK = re.compile(r"\r\n?|\n|[\u2028\u2029\x0b\x0c\x85]")
MAX_CHARS = 2_000  # output is bounded: a page never echoes a megabyte of someone's text


def md(value: object, limit: int = MAX_CHARS) -> str:
    """`value` as Markdown source that renders as exactly its text, nothing more.

    Line breaks are kept as hard breaks; leading spaces are dropped so that no
    line can become an indented code block; text past `limit` characters is cut
    with an ellipsis.
    """
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    text = _PUNCTUATION.sub(r"\\\1", text)
    text = _AUTOLINK.sub(_WORD_JOINER, text)
    lines = [line for line in _LINE_BREAK.split(_LEADING_SPACE.sub("", text))]
    return "  \n".join(line.strip() for line in lines if line.strip())


def fmt(template: str, *args: object, **kwargs: object) -> str:
    """`template.format(...)` with every argument escaped by `md`; the template itself is the product's Markdown."""
    return template.format(*(md(a) for a in args), **{k: md(v) for k, v in kwargs.items()})


def plain(value: object, limit: int = 200) -> str:
    """One line of outside text for places that show text as it is (selectbox options, file names)."""
    text = " ".join(("" if value is None else str(value)).split())
    return text if len(text) <= limit else text[:limit] + "…"
