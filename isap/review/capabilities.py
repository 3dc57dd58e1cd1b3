"""What each role may use beyond one proposal's workflow: the one table that pages and the service ask.

The state machine (`lifecycle.TABLE`) decides what may be done to one
proposal.  The rest is here: who prepares their organisation's proposals, who
follows every organisation's, who reads the assurance reports, the outbox,
the security record or the accounts.  The dashboard builds its navigation
from the answer of `Service.capabilities`, and a page asks `Service.can`;
neither compares role names, so a role's reach changes in this table alone.
The service's own refusals agree with it (tests/test_navigation.py checks
that, role by role).
"""

from __future__ import annotations

from enum import StrEnum

from isap.review.lifecycle import Role


class Capability(StrEnum):
    PREPARE_PROPOSALS = "prepare_proposals"
    REVIEW_PROPOSALS = "review_proposals"
    READ_PROPOSALS = "read_proposals"
    READ_RULES = "read_rules"
    READ_ASSURANCE_REPORTS = "read_assurance_reports"
    READ_DECISION_LETTERS = "read_decision_letters"
    SEE_SECURITY = "see_security"
    READ_OUTBOX = "read_outbox"
    MANAGE_USERS = "manage_users"
    KEEP_API_TOKENS = "keep_api_tokens"
    SEE_NATIONAL_VIEW = "see_national_view"
    SET_REGIONS = "set_regions"

    @property
    def label(self) -> str:
        return CAPABILITY_LABELS[self]


CAPABILITY_LABELS = {
    Capability.PREPARE_PROPOSALS: "Upload and submit their organisation's proposals",
    Capability.REVIEW_PROPOSALS: "Follow and review every organisation's proposals",
    Capability.READ_PROPOSALS: "Read the proposals they may see",
    Capability.READ_RULES: "Read the rule catalogue",
    Capability.READ_ASSURANCE_REPORTS: "Download assurance reports",
    Capability.READ_DECISION_LETTERS: "Download the decision letters of the proposals they may see",
    Capability.SEE_SECURITY: "Verify the audit history and see failed sign-ins",
    Capability.READ_OUTBOX: "Read the outbox of notifications",
    Capability.MANAGE_USERS: "Manage accounts and their sessions",
    Capability.KEEP_API_TOKENS: "Create and revoke their own API tokens",
    Capability.SEE_NATIONAL_VIEW: "See and export every proposal in England in one table",
    Capability.SET_REGIONS: "Say which NHS England region oversees each organisation",
}

# A decision letter is addressed to the lead commissioner: it is theirs to read as much as the reviewers'.
_READERS = frozenset({Capability.READ_PROPOSALS, Capability.READ_RULES, Capability.KEEP_API_TOKENS,
                      Capability.READ_DECISION_LETTERS})
_REVIEWING = _READERS | {Capability.REVIEW_PROPOSALS, Capability.READ_ASSURANCE_REPORTS, Capability.SEE_NATIONAL_VIEW}
CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.COMMISSIONER: _READERS | {Capability.PREPARE_PROPOSALS},
    Role.REVIEWER: _REVIEWING,
    Role.ADMIN: _REVIEWING | {Capability.SEE_SECURITY, Capability.READ_OUTBOX, Capability.MANAGE_USERS,
                              Capability.SET_REGIONS},
    Role.SYSTEM: frozenset(),  # the automated checks' account signs in nowhere
}


def capabilities_of(role: str) -> frozenset[Capability]:
    """What an account of `role` may use; nothing for a role this table does not know."""
    try:
        return CAPABILITIES[Role(role)]
    except ValueError:
        return frozenset()
