"""Every refusal of the HTTP API as an RFC 9457 problem document, with a stable code and the command line's words.

Other systems branch on `code` (it never changes once published) and show
`detail` to people: it is the very sentence `isap` prints after "isap: " for
the same refusal, because both come from the service's error.  The codes are
one vocabulary (`ProblemCode`), each with its HTTP status and its title.
"""

from __future__ import annotations

from enum import Enum

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "/problems/"  # a problem's `type`, relative to the API: GET it for the code's description


class ProblemCode(str, Enum):
    """A refusal's stable code; `status` is its HTTP status, `title` its short label, `meaning` when it is used."""

    def __new__(cls, value: str, status: int, title: str, meaning: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.title = title
        member.meaning = meaning
        return member

    TOKEN_MISSING = ("token_missing", 401, "No API token",
                     "The request has no `Authorization: Bearer` header with a personal API token.")
    TOKEN_UNKNOWN = ("token_unknown", 401, "Unknown API token", "No token has this secret.")
    TOKEN_EXPIRED = ("token_expired", 401, "API token expired", "The token is past its expiry date.")
    TOKEN_REVOKED = ("token_revoked", 401, "API token revoked", "The token was revoked.")
    ACCOUNT_DISABLED = ("account_disabled", 401, "Account disabled",
                        "The account the token acts for is disabled; its tokens were revoked with it.")
    RATE_LIMITED = ("rate_limited", 429, "Too many requests",
                    "The account's tokens together made more requests in the last minute than the policy's "
                    "`api_requests_per_minute`; "
                    "`Retry-After` says when to try again.")
    NOT_FOUND = ("not_found", 404, "Not found",
                 "No such proposal, version, upload or token that this account can see. Another organisation's "
                 "reads exactly like one that does not exist.")
    FORBIDDEN = ("forbidden", 403, "Not allowed", "The account's role may not do this.")
    REFUSED = ("refused", 409, "Refused by the workflow",
               "The proposal's state does not allow this now (the state machine's guard says why).")
    CONFLICT = ("conflict", 409, "Changed meanwhile", "Someone else changed the proposal at the same moment.")
    INVALID = ("invalid", 400, "Invalid request", "A value the service cannot use, such as an unknown state.")
    INVALID_REQUEST = ("invalid_request", 422, "Invalid request",
                       "The request's form is wrong: a missing file, a parameter of the wrong type.")
    TOO_LARGE = ("too_large", 413, "Workbook too large",
                 "The workbook is larger than the policy's `max_file_bytes`; nothing was read or kept.")
    NOT_ASSIGNED = ("not_assigned", 422, "Not kept as a version",
                    "The workbook could not name its proposal (no readable reference or organisation); it was kept "
                    "as an unassigned upload, as `isap upload` does.")
    STORE_BUSY = ("store_busy", 503, "Busy", "The database is busy; try again shortly.")
    STORE_UNAVAILABLE = ("store_unavailable", 503, "Store unavailable", "The database or the store of originals "
                         "cannot be reached.")
    NO_SUCH_ENDPOINT = ("no_such_endpoint", 404, "No such endpoint", "Nothing is served at this address.")
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, "Method not allowed", "The address takes another method.")
    FAILED = ("failed", 500, "isap failed", "A defect in isap; the server's log has the details.")

    @property
    def type_uri(self) -> str:
        return TYPE_PREFIX + self.value


class Problem(Exception):
    """A refusal to answer as a problem document: its code, the words for the person, and any extra members."""

    def __init__(self, code: ProblemCode, detail: str, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def document(self, instance: str | None = None) -> dict:
        out = {"type": self.code.type_uri, "title": self.code.title, "status": self.code.status,
               "detail": self.detail, "code": self.code.value}
        if instance:
            out["instance"] = instance
        out.update(self.extra)
        return out


def from_service_error(exc: Exception) -> Problem:
    """The problem for an error the service raised, in the words the command line prints for it."""
    from isap.orchestration.workers import NotFinished
    from isap.review.service import (
        Conflict,
        Forbidden,
        NotFound,
        Refused,
        StoreBusy,
        StoreError,
        TokenRefused,
        WorkflowError,
    )

    detail = str(exc)
    if isinstance(exc, TokenRefused):
        code = {"unknown": ProblemCode.TOKEN_UNKNOWN, "expired": ProblemCode.TOKEN_EXPIRED,
                "revoked": ProblemCode.TOKEN_REVOKED,
                "account_disabled": ProblemCode.ACCOUNT_DISABLED}.get(exc.reason, ProblemCode.TOKEN_UNKNOWN)
        return Problem(code, detail, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    for kind, code in ((NotFound, ProblemCode.NOT_FOUND), (Forbidden, ProblemCode.FORBIDDEN),
                       (Conflict, ProblemCode.CONFLICT), (Refused, ProblemCode.REFUSED),
                       (WorkflowError, ProblemCode.INVALID)):
        if isinstance(exc, kind):
            return Problem(code, detail)
    if isinstance(exc, (StoreBusy, NotFinished)):
        return Problem(ProblemCode.STORE_BUSY, detail, {"Retry-After": "5"})
    if isinstance(exc, StoreError):
        return Problem(ProblemCode.STORE_UNAVAILABLE, detail)
    return Problem(ProblemCode.FAILED, f"unexpected failure ({type(exc).__name__})")
