"""The ISAP review workflow: the service layer every interface goes through.

The CLI, the dashboard and the pipeline call these methods and nothing else,
so the rules of docs/workflow.md hold whoever acts: the state machine and its
guards, organisation scoping (a commissioner never sees or touches another
organisation's proposal), optimistic concurrency (the second of two people
acting at once is refused, never silently applied), and the append-only
audit history.  Every method is one transaction: it either happens whole or
changes nothing.

The service is composed of seven parts over one unit of work (`unit_of_work.py`):
administration (organisations, accounts, sign-in, the audit chain), the commands of
the review (one method each), the panel's queries to the commissioner and the commissioner's
waiver requests (`queries_and_waivers.py`), the read models (read models for lists, the review queue,
a proposal), the notifications the outbox owes, the uploads staged for assurance (`staging.py`), and the
personal API tokens other systems act through (`tokens.py`), the checkpoint calendar with the national
view (`calendar.py`), and the evidence documents behind a proposal (`evidence.py`).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from isap.review.administration import Administration
from isap.review.calendar import Calendar
from isap.review.commands import Commands
from isap.review.errors import Conflict, Forbidden, NotFound, Refused, SessionEnded, SignInRefused, WorkflowError
from isap.review.evidence import Evidence
from isap.review.notifications import Notifications
from isap.review.queries import Queries
from isap.review.queries_and_waivers import QueriesAndWaivers
from isap.review.staging import Staging
from isap.review.tokens import TokenRefused, Tokens
from isap.review.types import DOMAINS, SYSTEM_USER, ConditionInput, UploadResult, proposal_name
from isap.review.wording import diff_findings
from isap.store.db import StoreBusy, StoreError


class Service(Administration, Commands, QueriesAndWaivers, Queries, Calendar, Notifications, Staging, Tokens,
              Evidence):
    """The review service: administration, commands, queries, queries and waivers, the checkpoint calendar and
    national view, staged uploads, API tokens and evidence documents over one store and policy."""


__all__ = [
    "Service",
    "StoreBusy",
    "StoreError",
    "diff_findings",
    "WorkflowError",
    "NotFound",
    "Forbidden",
    "Refused",
    "Conflict",
    "SignInRefused",
    "SessionEnded",
    "TokenRefused",
    "ConditionInput",
    "UploadResult",
    "IntegrityError",
    "SYSTEM_USER",
    "DOMAINS",
    "proposal_name",
]
