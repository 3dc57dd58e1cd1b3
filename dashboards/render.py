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

from isap.outputs.inert_markdown import inert_markdown
from isap.text import visible_marks

MAX_CHARS = 2_000  # output is bounded: a page never echoes a megabyte of someone's text


def md(value: object, limit: int = MAX_CHARS) -> str:
    """`value` as Markdown source that renders as exactly its text, nothing more (see
    `isap.outputs.inert_markdown`); line breaks are kept, text past `limit` characters is cut."""
    return inert_markdown(value, limit)


def fmt(template: str, *args: object, **kwargs: object) -> str:
    """`template.format(...)` with every argument escaped by `md`; the template itself is the product's Markdown."""
    return template.format(*(md(a) for a in args), **{k: md(v) for k, v in kwargs.items()})


def plain(value: object, limit: int = 200) -> str:
    """One line of outside text for places that show text as it is (selectbox options, file names)."""
    text = visible_marks(" ".join(("" if value is None else str(value)).split()))
    return text if len(text) <= limit else text[:limit] + "…"
