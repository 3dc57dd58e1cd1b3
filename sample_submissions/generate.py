"""Generate the example ICP proposal workbooks in this folder.

    python -m sample_submissions.generate [OUT_DIR]

Clean proposals at each checkpoint (both integration models, statutory and
non-statutory providers), and one failing example per rule.  The failing
examples are not written here: each is the first failing case of its rule's
case file in `rule_cases/` (see `cases.py`), so a rule's example, its edits
and its expected findings are written once.  `expected.json` lists, for every
sample, the exact findings (rule, sheet, cell) `isap check` must report; the
tests hold the checker to it.  The proposals themselves and the writer are in
`proposals.py`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sample_submissions.cases import all_cases
from sample_submissions.proposals import BASES, Layout, Proposal, write

HERE = Path(__file__).resolve().parent


@dataclass
class Sample:
    name: str
    description: str
    build: Callable[[], Proposal]
    expected: list[tuple[str, str | None, str | None]]  # (rule_id, sheet, cell)
    layout: Layout | None = None
    checkpoint: int | None = None  # the checkpoint the sample is meant to be checked at (Cover's)


CLEAN: list[Sample] = [
    Sample("clean_cp1_partially_integrated_nhs_trust",
           "Strategic case, partially integrated, an NHS trust as prospective provider.",
           BASES["clean_cp1_partially_integrated_nhs_trust"], []),
    Sample("clean_cp2_fully_integrated_gp_federation",
           "Preferred bidder, fully integrated (suspended GMS/PMS contracts), a GP federation: every "
           "non-statutory safeguard in place.",
           BASES["clean_cp2_fully_integrated_gp_federation"], []),
    Sample("clean_cp2_partially_integrated_foundation_trust",
           "Preferred bidder, partially integrated, an NHS foundation trust (statutory: no guarantee needed).",
           BASES["clean_cp2_partially_integrated_foundation_trust"], []),
    Sample("clean_cp3_fully_integrated_social_enterprise",
           "Mobilisation, fully integrated, a social enterprise: GP agreements signed.",
           BASES["clean_cp3_fully_integrated_social_enterprise"], []),
]


# ----------------------------------------------------------------------------- samples of the rules
# Every rule's failing example is the first failing case of its case file that `isap check` shows with
# no options (no policy, no checkpoint override) and that `write` can make on its own (no package edit):
# the case file is the one place the example, its edits and its expected findings are written.


def publishable(case) -> bool:
    return case.failing and not (case.policy or case.checkpoint is not None or case.package or case.xfail)


def rule_samples() -> list[Sample]:
    samples, seen = [], set()
    for case in all_cases():
        if case.rule in seen or not publishable(case):
            continue
        seen.add(case.rule)
        samples.append(Sample(case.sample_name, case.description.strip(), case.proposal,
                              case.expected_rule_sheet_cell(), case.layout_object()))
    return samples


def samples() -> list[Sample]:
    """Every published sample: the clean proposals, then one failing example per rule."""
    return CLEAN + rule_samples()


def __getattr__(name: str):
    # `ALL` reads the case files, so it is built on first use rather than when `clean`/`write` are imported.
    if name == "ALL":
        return samples()
    raise AttributeError(name)


def generate(out: Path = HERE) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    manifest = {}
    for s in samples():
        path = write(s.build(), out / f"{s.name}.xlsx", s.layout)
        written.append(path)
        manifest[s.name] = {
            "description": s.description,
            "expected": [{"rule_id": r, "sheet": sh, "cell": c} for r, sh, c in s.expected],
        }
    (out / "expected.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for p in generate(target):
        print(p)
