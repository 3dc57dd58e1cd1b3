"""Text from workbooks and people, made safe to keep and to show.

Two kinds of invisible character do harm.  Control characters (C0 and C1: a
NUL, a terminal escape) cannot be kept by PostgreSQL (a NUL ends the upload
with a database failure) and drive terminals, so text loses them before it
reaches the store; a tab and a line break are kept where text has lines.
Bidirectional controls (a right-to-left override, isolates, marks) are kept as
typed, since they can be a legitimate part of Arabic or Hebrew text, but they
can also make a title or a rationale read as something it is not, so the
documents and mail isap makes show each one visibly, as ⟨U+202E⟩.  So are the
characters that show as nothing or as a line break where none was typed (a
zero-width space, a word joiner, a byte-order mark, the line and paragraph
separators): two titles that differ by one would look alike.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; a tab and a line feed are kept where text may have lines
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_ENDINGS = re.compile(r"\r\n?")
# embeddings and overrides, isolates, the left-to-right and right-to-left marks and the Arabic letter mark
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# characters that show as nothing, or break a line no one typed
INVISIBLE_MARKS = frozenset("\u200b\u2060\ufeff\u2028\u2029")
SHOWN_AS_CODE_POINTS = BIDI_CONTROLS | INVISIBLE_MARKS
_SHOWN = re.compile("[" + "".join(sorted(SHOWN_AS_CODE_POINTS)) + "]")


def without_controls(text: str, lines: bool = False) -> str:
    """`text` without control characters; with `lines`, tabs and line breaks (as \\n) are kept."""
    if lines:
        return _CONTROLS_BUT_LINES.sub("", _LINE_ENDINGS.sub("\n", text))
    return _CONTROLS.sub("", text)


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def code_point(c: str) -> str:
    """A character as a reader can see it stood there: ⟨U+202E⟩."""
    return f"⟨U+{ord(c):04X}⟩"


def visible_marks(text: str) -> str:
    """`text` with each bidirectional control and invisible mark shown as its code point, so it cannot reorder
    what is around it, or hide."""
    return _SHOWN.sub(lambda m: code_point(m.group()), text)
