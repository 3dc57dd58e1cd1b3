"""The rule catalogue rendered from the registry: `isap rules`, docs/rules.md, the dashboard page.

Text and Markdown are read by people, so they name each source document by title, publisher and
year; JSON keeps the file names a machine follows.
"""

from __future__ import annotations

import json

from isap.rules.registry import CATALOGUE_VERSION, all_rules
from isap.rules.sources import readable

DOCS_HEADER = """# Assurance rule catalogue

Generated from the rule registry by `isap rules --format markdown`; do not edit by hand
(a test fails when this file is stale). Catalogue version: {version}.

`when`: `all` = every checkpoint (and also when the workbook names no valid checkpoint);
`cp ≥ 2` = checkpoints 2 and 3 only. Thresholds come from the policy (`isap-policy.toml`);
every report states the values it used.
"""


def render(fmt: str = "text") -> str:
    rules = all_rules()
    if fmt == "json":
        return json.dumps({"catalogue_version": CATALOGUE_VERSION, "rules": [r.to_dict() for r in rules]},
                          indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        out = [DOCS_HEADER.format(version=CATALOGUE_VERSION)]
        domain = None
        for r in rules:
            if r.domain != domain:
                domain = r.domain
                out.append(f"\n## {domain.value.replace('_', ' ').capitalize()}\n")
            out.append(f"### {r.id} — {r.summary}\n")
            out.append(f"- severity: **{r.severity.value}**; when: {r.when}; points at: {r.points_at or '—'}")
            out.append(f"- source: {readable(r.source)}\n")
            out.append(r.explanation + "\n")
        return "\n".join(out)
    lines = []
    for r in rules:
        lines.append(f"{r.id:<7}{r.severity.value:<8}{r.when:<8}{r.domain.value:<15}{r.summary}  "
                     f"[{readable(r.source)}]")
    return "\n".join(lines) + "\n"
