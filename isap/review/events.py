"""What the history records and what the outbox sends, as enums with their labels.

The audit history and the outbox store short codes (`version_uploaded`,
`decision_recorded`); people read words on the pages, in the reports, the
letters and the mail.  Each vocabulary is one enum here, and each member's
label comes from one table that a test holds total, so no event can be
recorded that reads as a code, and no word is written twice.  The values are
the strings the store has always held, so stored rows need no migration; a
code this version does not know (from an older store) still reads as words.
"""

from __future__ import annotations

from enum import StrEnum

from isap.review.lifecycle import Action, Outcome


class AuditKind(StrEnum):
    """An event of the audit history (`AuditEvent.action`)."""

    # the commissioner's side of a proposal
    UPLOAD_UNASSIGNED = "upload_unassigned"
    PROPOSAL_CREATED = "proposal_created"
    VERSION_UPLOADED = "version_uploaded"
    TITLE_CHANGED = "title_changed"
    CONTACT_CHANGED = "contact_changed"
    CHECKED = "checked"
    WARNING_ACKNOWLEDGED = "warning_acknowledged"
    SUBMITTED = Action.SUBMIT.value
    WITHDRAWN = Action.WITHDRAW.value
    CONDITION_ANSWERED = "condition_answered"
    COMMENTED = Action.COMMENT.value
    # the reviewers' side
    TAKEN = Action.TAKE.value
    RETURNED = Action.RETURN.value
    DECIDED_APPROVED = f"{Action.DECIDE.value}:{Outcome.APPROVED.value}"
    DECIDED_APPROVED_WITH_CONDITIONS = f"{Action.DECIDE.value}:{Outcome.APPROVED_WITH_CONDITIONS.value}"
    DECIDED_RETURNED = f"{Action.DECIDE.value}:{Outcome.RETURNED.value}"
    DECIDED_HALTED = f"{Action.DECIDE.value}:{Outcome.HALTED.value}"
    DECISION_SEALED = "decision_sealed"  # written once by migration 0007 for decisions recorded before seals
    # the review panel
    INTERESTS_DECLARED = "interests_declared"
    CONFLICT_DECLARED = "conflict_declared"
    DOMAIN_RATED = Action.RATE.value
    DECISION_PROPOSED = "decision_proposed"
    DECISION_SENT_BACK = Action.SEND_BACK.value
    CONDITION_RAISED = "condition_raised"
    CONDITION_DISCHARGED = "condition_discharged"
    CONDITION_CARRIED_FORWARD = "condition_carried_forward"
    # the checkpoint calendar
    SUBMISSION_PLANNED = Action.PLAN_SUBMISSION.value
    PLAN_AGREED = Action.AGREE_PLAN.value
    # queries and waivers
    QUERY_RAISED = "query_raised"
    QUERY_ANSWERED = "query_answered"
    QUERY_FOLLOWED_UP = "query_followed_up"
    QUERY_RESOLVED = "query_resolved"
    WAIVER_REQUESTED = "waiver_requested"
    WAIVER_GRANTED = "waiver_granted"
    WAIVER_REFUSED = "waiver_refused"
    EVIDENCE_ATTACHED = Action.ATTACH_EVIDENCE.value
    # administration
    ORGANISATION_ADDED = "org_added"
    REGION_SET = "org_region_set"
    USER_ADDED = "user_added"
    USER_DETAILS_SET = "user_details_set"
    PASSWORD_SET = "password_set"
    SIGN_IN_UNLOCKED = "sign_in_unlocked"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    SESSIONS_ENDED = "sessions_ended"
    API_TOKEN_CREATED = "api_token_created"
    API_TOKEN_REVOKED = "api_token_revoked"
    AUDIT_VERIFIED = "audit_verified"
    AUDIT_CHAIN_BROKEN = "audit_chain_broken"

    @property
    def label(self) -> str:
        return AUDIT_LABELS[self]

    @classmethod
    def decided(cls, outcome: Outcome | str) -> "AuditKind":
        """The event that records a checkpoint decision with this outcome."""
        return cls(f"{Action.DECIDE.value}:{Outcome(outcome).value}")


class NotificationKind(StrEnum):
    """What a message of the outbox is about (`Notification.kind`, and the mail's X-ISAP-Event)."""

    VERSION_CHECKED = "version_checked"
    CONTACT_CHANGED = "contact_changed"
    SUBMITTED = "submitted"
    TAKEN_INTO_REVIEW = "taken_into_review"
    DECISION_RECORDED = "decision_recorded"
    DECISION_PROPOSED = "decision_proposed"
    DECISION_SENT_BACK = "decision_sent_back"
    DECISION_COUNTERSIGNED = "decision_countersigned"
    CONDITION_DUE_SOON = "condition_due_soon"
    CONDITION_OVERDUE = "condition_overdue"
    REVIEW_OVERDUE = "review_overdue"
    SUBMISSION_DUE_SOON = "submission_due_soon"
    SUBMISSION_LATE = "submission_late"
    ADMINISTRATOR_ALERT = "administrator_alert"
    AUDIT_ANCHOR = "audit_anchor"
    QUERY_RAISED = "query_raised"
    QUERY_ANSWERED = "query_answered"
    QUERY_FOLLOWED_UP = "query_followed_up"
    QUERY_RESOLVED = "query_resolved"
    WAIVER_REQUESTED = "waiver_requested"
    WAIVER_GRANTED = "waiver_granted"
    WAIVER_REFUSED = "waiver_refused"

    @property
    def label(self) -> str:
        return NOTIFICATION_LABELS[self]


class NotificationStatus(StrEnum):
    """Where a message of the outbox is on its way (`Notification.status`)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


AUDIT_LABELS = {
    AuditKind.UPLOAD_UNASSIGNED: "Upload not assigned to a proposal",
    AuditKind.PROPOSAL_CREATED: "Proposal created",
    AuditKind.VERSION_UPLOADED: "Version uploaded",
    AuditKind.TITLE_CHANGED: "Title changed",
    AuditKind.CONTACT_CHANGED: "Contact changed",
    AuditKind.CHECKED: "Checked",
    AuditKind.WARNING_ACKNOWLEDGED: "Warning answered",
    AuditKind.SUBMITTED: "Submitted",
    AuditKind.WITHDRAWN: "Withdrawn",
    AuditKind.CONDITION_ANSWERED: "Condition answered",
    AuditKind.COMMENTED: "Comment added",
    AuditKind.TAKEN: "Taken into review",
    AuditKind.RETURNED: "Returned without a decision",
    **{AuditKind.decided(o): f"Decision recorded: {o.label}" for o in Outcome},
    AuditKind.DECISION_SEALED: "Decision sealed",
    AuditKind.INTERESTS_DECLARED: "Interests declared: none",
    AuditKind.CONFLICT_DECLARED: "Conflict of interest declared",
    AuditKind.DOMAIN_RATED: "Domain rated",
    AuditKind.DECISION_PROPOSED: "Decision proposed",
    AuditKind.DECISION_SENT_BACK: "Proposed decision sent back",
    AuditKind.CONDITION_RAISED: "Condition raised",
    AuditKind.CONDITION_DISCHARGED: "Condition discharged",
    AuditKind.CONDITION_CARRIED_FORWARD: "Condition carried forward",
    AuditKind.SUBMISSION_PLANNED: "Submission date planned",
    AuditKind.PLAN_AGREED: "Planned date agreed",
    AuditKind.QUERY_RAISED: "Query raised",
    AuditKind.QUERY_ANSWERED: "Query answered",
    AuditKind.QUERY_FOLLOWED_UP: "Query followed up",
    AuditKind.QUERY_RESOLVED: "Query resolved",
    AuditKind.WAIVER_REQUESTED: "Waiver asked for",
    AuditKind.EVIDENCE_ATTACHED: "Evidence document attached",
    AuditKind.WAIVER_GRANTED: "Waiver granted",
    AuditKind.WAIVER_REFUSED: "Waiver refused",
    AuditKind.ORGANISATION_ADDED: "Organisation added",
    AuditKind.REGION_SET: "Organisation's region set",
    AuditKind.USER_ADDED: "User added",
    AuditKind.USER_DETAILS_SET: "Name, job title or body set",
    AuditKind.PASSWORD_SET: "Password set",
    AuditKind.SIGN_IN_UNLOCKED: "Sign-in unlocked",
    AuditKind.USER_DISABLED: "User disabled",
    AuditKind.USER_ENABLED: "User enabled",
    AuditKind.SESSIONS_ENDED: "Sign-ins ended",
    AuditKind.API_TOKEN_CREATED: "API token created",
    AuditKind.API_TOKEN_REVOKED: "API token revoked",
    AuditKind.AUDIT_VERIFIED: "Audit history verified",
    AuditKind.AUDIT_CHAIN_BROKEN: "Audit history found changed",
}
NOTIFICATION_LABELS = {
    NotificationKind.VERSION_CHECKED: "Version checked",
    NotificationKind.CONTACT_CHANGED: "Contact changed",
    NotificationKind.SUBMITTED: "Submitted",
    NotificationKind.TAKEN_INTO_REVIEW: "Taken into review",
    NotificationKind.DECISION_RECORDED: "Decision recorded",
    NotificationKind.DECISION_PROPOSED: "Decision waits for countersignature",
    NotificationKind.DECISION_SENT_BACK: "Proposed decision sent back",
    NotificationKind.DECISION_COUNTERSIGNED: "Proposed decision countersigned",
    NotificationKind.CONDITION_DUE_SOON: "Condition due soon",
    NotificationKind.CONDITION_OVERDUE: "Condition overdue",
    NotificationKind.REVIEW_OVERDUE: "Review overdue",
    NotificationKind.SUBMISSION_DUE_SOON: "Planned submission due soon",
    NotificationKind.SUBMISSION_LATE: "Planned submission passed",
    NotificationKind.ADMINISTRATOR_ALERT: "Alert to administrators",
    NotificationKind.AUDIT_ANCHOR: "Audit history anchor",
    NotificationKind.QUERY_RAISED: "Query raised",
    NotificationKind.QUERY_ANSWERED: "Query answered",
    NotificationKind.QUERY_FOLLOWED_UP: "Query followed up",
    NotificationKind.QUERY_RESOLVED: "Query resolved",
    NotificationKind.WAIVER_REQUESTED: "Waiver asked for",
    NotificationKind.WAIVER_GRANTED: "Waiver granted",
    NotificationKind.WAIVER_REFUSED: "Waiver refused",
}
STATUS_LABELS = {
    NotificationStatus.PENDING: "Waiting to be sent",
    NotificationStatus.SENDING: "Being sent",
    NotificationStatus.SENT: "Sent",
    NotificationStatus.FAILED: "Failed",
}


def _words(code: str) -> str:
    return code.replace("_", " ").replace(":", ": ").capitalize()


def event_label(code: object) -> str:
    """The words for a history event's code; a code this version does not know, in words; nothing as ""."""
    text = "" if code is None else str(code)
    return AUDIT_LABELS[AuditKind(text)] if text in AuditKind._value2member_map_ else _words(text)


def notification_label(code: object) -> str:
    """The words for an outbox message's kind; a kind this version does not know, in words."""
    text = "" if code is None else str(code)
    return NOTIFICATION_LABELS[NotificationKind(text)] if text in NotificationKind._value2member_map_ else _words(text)


def status_label(code: object) -> str:
    """The words for an outbox message's status."""
    text = "" if code is None else str(code)
    return STATUS_LABELS[NotificationStatus(text)] if text in NotificationStatus._value2member_map_ else _words(text)
