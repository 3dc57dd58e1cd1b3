"""The kinds of evidence document a proposal can be given (docs/workflow.md, "Evidence").

The list is the contract's, fixed; it lives beside the policy because the policy names kinds (which ones each
checkpoint requires) and is checked against this list when it is loaded, before anything else runs.
"""

from __future__ import annotations

from enum import StrEnum


class EvidenceKind(StrEnum):
    COMMISSIONER_BOARD_PAPER = "commissioner_board_paper"
    PROVIDER_BOARD_PAPER = "provider_board_paper"
    ADVISERS_REPORT = "advisers_report"
    INTEGRATION_AGREEMENT = "integration_agreement"
    SUB_CONTRACT = "sub_contract"
    ENGAGEMENT_REPORT = "engagement_report"
    EQUALITY_ANALYSIS = "equality_analysis"
    FINANCIAL_MODEL = "financial_model"
    MOBILISATION_PLAN = "mobilisation_plan"
    OTHER = "other"

    @property
    def label(self) -> str:
        return EVIDENCE_KIND_LABELS[self]


EVIDENCE_KIND_LABELS = {
    EvidenceKind.COMMISSIONER_BOARD_PAPER: "Commissioner board paper",
    EvidenceKind.PROVIDER_BOARD_PAPER: "Provider board paper",
    EvidenceKind.ADVISERS_REPORT: "Advisers' report",
    EvidenceKind.INTEGRATION_AGREEMENT: "Integration agreement",
    EvidenceKind.SUB_CONTRACT: "Sub-contract",
    EvidenceKind.ENGAGEMENT_REPORT: "Engagement report",
    EvidenceKind.EQUALITY_ANALYSIS: "Equality analysis",
    EvidenceKind.FINANCIAL_MODEL: "Financial model",
    EvidenceKind.MOBILISATION_PLAN: "Mobilisation plan",
    EvidenceKind.OTHER: "Other",
}

# The contract's defaults: what each checkpoint needs attached for it (each includes the one before).
_CP1 = (EvidenceKind.COMMISSIONER_BOARD_PAPER, EvidenceKind.ENGAGEMENT_REPORT)
_CP2 = (*_CP1, EvidenceKind.PROVIDER_BOARD_PAPER, EvidenceKind.INTEGRATION_AGREEMENT, EvidenceKind.FINANCIAL_MODEL)
_CP3 = (*_CP2, EvidenceKind.MOBILISATION_PLAN)
DEFAULT_REQUIRED = {1: tuple(k.value for k in _CP1), 2: tuple(k.value for k in _CP2),
                    3: tuple(k.value for k in _CP3)}


def evidence_kind(text: str) -> EvidenceKind:
    """The kind `text` names (its value or its label, in any case); ValueError naming every kind otherwise."""
    wanted = " ".join(str(text).replace("_", " ").replace("-", " ").split()).casefold()
    for k in EvidenceKind:
        if wanted in (k.value.replace("_", " "), k.label.replace("-", " ").casefold()):
            return k
    raise ValueError(f"{text!r} is not a kind of evidence; use one of {', '.join(k.value for k in EvidenceKind)}")
