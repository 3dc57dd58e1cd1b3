"""What the review refuses, as exceptions every front door catches by kind.

The CLI, the dashboard and the HTTP API tell a person why an action was not done by the kind of error
the service raised (not found, forbidden, refused by a guard, changed by someone else) and its message.
They live apart from the unit of work so that catching one imports no database.
"""

from __future__ import annotations


class WorkflowError(Exception):
    """An action that cannot be done; the message is for the person who tried."""


class NotFound(WorkflowError):
    pass


class Forbidden(WorkflowError):
    pass


class Refused(WorkflowError):
    """A guard of the workflow refused the transition; nothing was changed."""


class Conflict(WorkflowError):
    """Someone else changed the proposal since it was loaded."""


class SignInRefused(WorkflowError):
    """A sign-in that did not succeed: wrong details, or a user name locked out after too many failures."""


class SessionEnded(WorkflowError):
    """A session token that no longer signs anyone in; the message says why, in a few words."""
