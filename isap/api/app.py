"""The HTTP API: other systems and CI act as one person, through that person's API token.

A third front door beside the `isap` command and the dashboard, and like them
it decides nothing: each request is the service call the command line makes
for the same thing, as the token's owner, so the same roles, organisation
scoping and workflow guards apply, and a refusal carries the command line's
words (as an RFC 9457 problem, `problems.py`).  Uploads are staged and checked
through the same orchestration as the dashboard's (`isap.orchestration.dispatch`),
in the same sandbox; `POST /v1/check` runs the sandboxed check of `isap check`
and keeps nothing.  Bodies are bounded by the policy's `max_file_bytes` while
they are read, not after.  Nothing here is imported by the command line: `isap
api` serves `create_app` with uvicorn.
"""

import base64
import hashlib
import logging
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, Callable, Optional

from fastapi import Depends, FastAPI, File, Form, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from isap.api.limits import RateLimit
from isap.api.problems import PROBLEM_JSON, TYPE_PREFIX, Problem, ProblemCode, from_service_error
from isap.review.service import Service, StoreError, WorkflowError
from isap.review.wording import count

log = logging.getLogger(__name__)

API_VERSION = "1"
MULTIPART_ALLOWANCE = 64 * 1024  # a multipart body's boundaries and headers, beyond the workbook itself
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ProblemDocument(BaseModel):
    """An RFC 9457 problem: `code` is stable, `detail` is the command line's words for the same refusal."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: Optional[str] = None


def _problems(*codes: ProblemCode) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an endpoint: the problems it may answer with, grouped by status."""
    by_status: dict[int, list[str]] = {}
    for code in (ProblemCode.TOKEN_MISSING, ProblemCode.TOKEN_UNKNOWN, ProblemCode.TOKEN_EXPIRED,
                 ProblemCode.TOKEN_REVOKED, ProblemCode.ACCOUNT_DISABLED, ProblemCode.RATE_LIMITED,
                 ProblemCode.STORE_UNAVAILABLE, *codes):
        by_status.setdefault(code.status, []).append(code.value)
    return {status: {"model": ProblemDocument, "content": {PROBLEM_JSON: {}},
                     "description": "A problem: " + ", ".join(dict.fromkeys(names))}
            for status, names in sorted(by_status.items())}


def create_app(service: Service | Callable[[], Service] | None = None,
               clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The API over `service` (by default the one the composition root wires on first use); `clock` counts the
    rate limit's seconds."""
    provide = _provider(service)
    limits: dict[str, RateLimit] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if service is None:  # a served API: the checking children start now, not at the first workbook
            from isap.rules.engine import checking_modules
            from isap.workbook.isolation import warm_up

            try:
                reserve = provide().policy.check_reserve_children
            except Exception:  # noqa: BLE001 - the first request answers what is wrong with the store or policy
                reserve = 0
            warm_up(background=True, preload=checking_modules(), reserve=reserve)
        yield

    app = FastAPI(
        title="isap HTTP API", version=API_VERSION, lifespan=lifespan,
        description="Check ICP proposal workbooks, upload and submit them, and read proposals, findings and "
                    "originals as the person whose personal API token is given (docs/api.md). Every refusal is "
                    "an RFC 9457 problem document with a stable `code`.")
    bearer = HTTPBearer(auto_error=False, description="A personal API token: `isap token create`, or the "
                                                      "dashboard's API tokens page.")

    def rate_limit() -> RateLimit:
        per_minute = provide().policy.api_requests_per_minute
        key = str(per_minute)
        if key not in limits:
            limits.clear()
            limits[key] = RateLimit(per_minute, clock)
        return limits[key]

    def acting(credentials: Annotated[Optional[HTTPAuthorizationCredentials], Depends(bearer)]) -> str:
        """The user name the request's token acts for; refused (401, 429) as a problem otherwise."""
        if credentials is None or not credentials.credentials.strip():
            raise Problem(ProblemCode.TOKEN_MISSING, "this needs a personal API token in an `Authorization: Bearer "
                          "TOKEN` header (isap token create)", {"WWW-Authenticate": "Bearer"})
        username, _ = provide().token_user(credentials.credentials.strip())
        limit = rate_limit()
        # counted by account, over all its tokens: an account may hold many, each would otherwise multiply it
        wait = limit.wait_for(username)
        if wait is not None:
            raise Problem(ProblemCode.RATE_LIMITED,
                          f"{username}'s tokens made {limit.per_minute} requests in the last minute, the most the "
                          f"policy allows an account (api_requests_per_minute); try again in {wait} s",
                          {"Retry-After": str(wait)})
        return username

    Actor = Annotated[str, Depends(acting)]
    Name = Annotated[str, Path(description="The proposal: its reference (ISAP-2026-014), its lead commissioner's "
                                           "code and reference (QUA/ISAP-2026-014), or its number (%2312).")]

    # ------------------------------------------------------------------ errors as problem documents
    def problem_response(request: Request, problem: Problem) -> JSONResponse:
        return JSONResponse(problem.document(request.url.path), status_code=problem.code.status,
                            headers=problem.headers, media_type=PROBLEM_JSON)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(request, exc)

    @app.exception_handler(WorkflowError)
    async def _refusal(request: Request, exc: WorkflowError):
        return problem_response(request, from_service_error(exc))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError):
        return problem_response(request, from_service_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        said = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'request'}: {e.get('msg')}"
                         for e in exc.errors())
        return problem_response(request, Problem(ProblemCode.INVALID_REQUEST, said or "the request is not valid"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: ProblemCode.NO_SUCH_ENDPOINT, 405: ProblemCode.METHOD_NOT_ALLOWED}.get(exc.status_code)
        if code is None:
            code = ProblemCode.INVALID_REQUEST if exc.status_code < 500 else ProblemCode.FAILED
        return problem_response(request, Problem(code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception):
        log.exception("the API failed on %s %s", request.method, request.url.path)
        return problem_response(request, from_service_error(exc))

    # ------------------------------------------------------------------ bodies bounded while they are read
    app.add_middleware(BoundedBody, most=lambda: provide().policy.max_file_bytes)

    def workbook_bytes(upload: UploadFile) -> bytes:
        most = provide().policy.max_file_bytes
        data = upload.file.read(most + 1)
        if len(data) > most:
            raise _too_large(most)
        return data

    # ------------------------------------------------------------------ the endpoints
    @app.get("/v1/me", tags=["tokens"], responses=_problems())
    def me(actor: Actor) -> dict:
        """Whom the token acts as."""
        return provide().account(actor)

    @app.post("/v1/check", tags=["check"], responses=_problems(ProblemCode.TOO_LARGE, ProblemCode.INVALID_REQUEST))
    def check(actor: Actor, workbook: Annotated[UploadFile, File(description="The workbook (.xlsx).")],
              checkpoint: Annotated[Optional[int], Form(ge=1, le=3, description="Check for this checkpoint "
                                                        "instead of the Cover's.")] = None) -> Response:
        """Check a workbook and answer the JSON report of `isap check --format json`; nothing is kept.

        The `ISAP-Exit-Status` header is the status `isap check` would exit with: 0 no errors, 1 errors,
        2 not assessable, 3 isap failed."""
        from isap.outputs.formats import to_json
        from isap.rules.engine import check_bytes

        data = workbook_bytes(workbook)
        svc = provide()
        report = check_bytes(data, workbook.filename or "workbook.xlsx", svc.policy, checkpoint,
                             owner=svc.checking_owner(actor))
        return Response(to_json([report]), media_type="application/json",
                        headers={"ISAP-Exit-Status": str(report.exit_code)})

    @app.post("/v1/uploads", tags=["proposals"], status_code=201,
              responses={202: {"description": "Staged and queued: a worker has not checked it yet; GET the "
                                              "`Location` for its result."},
                         **_problems(ProblemCode.TOO_LARGE, ProblemCode.NOT_ASSIGNED, ProblemCode.FORBIDDEN,
                                     ProblemCode.REFUSED)})
    def upload(actor: Actor, workbook: Annotated[UploadFile, File(description="The workbook (.xlsx).")]) -> Response:
        """Check a workbook and keep it as a new proposal or a new version, as `isap upload` does."""
        from isap.orchestration.dispatch import assure_api_upload

        data = workbook_bytes(workbook)
        done = assure_api_upload(provide(), actor, workbook.filename or "workbook.xlsx", data)
        if done.queued:
            return _queued(done.staged_id)
        return _uploaded(done.staged_id, done.result, workbook.filename or "workbook.xlsx")

    @app.get("/v1/uploads/{staged_id}", tags=["proposals"], responses={
        202: {"description": "Still queued for a worker."}, **_problems(ProblemCode.NOT_FOUND)})
    def upload_result(actor: Actor, staged_id: str) -> Response:
        """The outcome of an upload this account made: 200 once it is checked and kept, 202 while it waits."""
        from isap.orchestration.dispatch import dashboard_upload_result

        result = dashboard_upload_result(provide(), actor, staged_id)
        return _queued(staged_id) if result is None else _uploaded(staged_id, result, "", created=False)

    @app.get("/v1/proposals", tags=["proposals"], responses=_problems(ProblemCode.INVALID, ProblemCode.FORBIDDEN))
    def proposals(actor: Actor, state: Annotated[Optional[str], Query(description="Only proposals in this "
                                                                      "state.")] = None) -> list[dict]:
        """The proposals this account can see (`isap list`): a commissioner their organisation's, reviewers all."""
        return provide().list_proposals(actor, state)

    @app.get("/v1/review-queue", tags=["proposals"], responses=_problems(ProblemCode.FORBIDDEN))
    def review_queue(actor: Actor) -> list[dict]:
        """The rows of the review queue: every proposal this account can see, with its days in its state and
        whether its review is overdue against the policy's target."""
        return provide().review_queue(actor)

    @app.get("/v1/national", tags=["proposals"], responses=_problems(ProblemCode.INVALID, ProblemCode.FORBIDDEN))
    def national(actor: Actor,
                 region: Annotated[Optional[str], Query(description="Only this NHS England region's (its code or "
                                                                    "name).")] = None,
                 state: Annotated[Optional[str], Query(description="Only proposals in this state.")] = None,
                 checkpoint: Annotated[Optional[int], Query(ge=1, le=3, description="Only proposals at this "
                                                                                    "checkpoint.")] = None,
                 model: Annotated[Optional[str], Query(description="Only this integration model.")] = None,
                 late: Annotated[Optional[bool], Query(description="Only late proposals (true), or only those "
                                                                   "not late (false).")] = None) -> list[dict]:
        """The national view's rows (reviewers and administrators): every proposal with its lead commissioner,
        region, provider, key figures, checkpoint and state, last decision and ratings, open conditions, next
        planned submission and slippage in working days."""
        return provide().national_view(actor, region=region, state=state, checkpoint=checkpoint, model=model,
                                       late=late)

    @app.get("/v1/proposals/{name:path}/versions/{number}/findings", tags=["proposals"],
             responses=_problems(ProblemCode.NOT_FOUND))
    def findings(actor: Actor, name: Name, number: Annotated[int, Path(ge=1)]) -> list[dict]:
        """A version's findings, as they were recorded when it was checked."""
        return provide().version_findings(actor, name, number)

    @app.get("/v1/proposals/{name:path}/versions/{number}/original", tags=["proposals"],
             response_class=Response, responses={200: {"content": {XLSX: {}}, "description": "The original "
                                                       "workbook, byte for byte; `Repr-Digest` is its SHA-256."},
                                                 **_problems(ProblemCode.NOT_FOUND)})
    def original(actor: Actor, name: Name, number: Annotated[int, Path(ge=1)]) -> Response:
        """A version's original workbook, byte for byte as it was uploaded (`isap download`)."""
        filename, data = provide().version_bytes(actor, name, number)
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename) or "original.xlsx"
        return Response(data, media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="{safe}"', "Repr-Digest": f"sha-256=:{digest}:",
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    @app.post("/v1/proposals/{name:path}/submit", tags=["proposals"],
              responses=_problems(ProblemCode.NOT_FOUND, ProblemCode.FORBIDDEN, ProblemCode.REFUSED,
                                  ProblemCode.CONFLICT))
    def submit(actor: Actor, name: Name) -> dict:
        """Submit the latest version for the proposal's current checkpoint (`isap submit`)."""
        provide().submit(actor, name)
        shown = provide().show(actor, name)
        return {"name": shown["name"], "state": shown["state"], "checkpoint": shown["checkpoint"],
                "message": f"Submitted {name}"}

    @app.get("/v1/proposals/{name:path}", tags=["proposals"], responses=_problems(ProblemCode.NOT_FOUND))
    def proposal(actor: Actor, name: Name) -> dict:
        """A proposal: versions, findings, conditions, reviews and history (`isap show --format json`)."""
        return provide().show(actor, name)

    @app.get(TYPE_PREFIX + "{code}", tags=["problems"],
             responses={404: {"model": ProblemDocument}})
    def problem_type(code: str) -> dict:
        """What a problem's `type` means (no token needed)."""
        try:
            known = ProblemCode(code)
        except ValueError:
            raise Problem(ProblemCode.NO_SUCH_ENDPOINT, f"there is no problem type {code}") from None
        return {"code": known.value, "status": known.status, "title": known.title, "meaning": known.meaning}

    return app


def _provider(service: Service | Callable[[], Service] | None) -> Callable[[], Service]:
    if isinstance(service, Service):
        return lambda: service
    if service is not None:
        return service
    lock, built = threading.Lock(), []

    def wired() -> Service:
        with lock:
            if not built:
                from isap.composition import service as composed

                built.append(composed())
            return built[0]
    return wired


class BoundedBody:
    """Refuse a request body larger than a workbook may be (plus a multipart body's own lines) while it is read:
    by its declared length at once, or when the bytes received pass the limit, so nothing larger is ever held."""

    def __init__(self, app, most: Callable[[], int]):
        self.app = app
        self.most = most

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.most()
        most = limit + MULTIPART_ALLOWANCE
        refusal = _too_large(limit)
        response = JSONResponse(refusal.document(scope["path"]), status_code=refusal.code.status,
                                media_type=PROBLEM_JSON, headers={"Connection": "close"})
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > most):
            return await response(scope, receive, send)
        seen, over, answered = 0, False, False

        async def counted():
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > most:
                over = True
                raise refusal
            return message

        async def answer(message):
            # once the body passed the limit, whatever the endpoint would answer (a form it could not parse) is
            # replaced by the refusal
            nonlocal answered
            if not over:
                return await send(message)
            if not answered:
                answered = True
                await response(scope, receive, send)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not over:
                raise
        if over and not answered:
            await response(scope, receive, send)


def _too_large(most: int) -> Problem:
    # the reader's own words for a file over the limit (WB003)
    return Problem(ProblemCode.TOO_LARGE, f"The file is over the limit of {most:,} bytes.")


def _queued(staged_id: str) -> JSONResponse:
    return JSONResponse({"staged_id": staged_id, "status": "queued",
                         "message": "saved and queued for checking; GET the Location for its findings"},
                        status_code=202, headers={"Location": f"/v1/uploads/{staged_id}", "Retry-After": "2"})


def _uploaded(staged_id: str, res, filename: str, created: bool = True) -> JSONResponse:
    """An upload's result in the fields `isap upload --format json` gives; one that could not name its proposal is
    the problem `not_assigned`, in the command line's words."""
    body = {"staged_id": staged_id, "status": "done", "reference": res.reference,
            "version": res.version, "created_proposal": res.created_proposal,
            "duplicate": res.duplicate, "errors": res.errors, "warnings": res.warnings, "sha256": res.sha256,
            "kept_as": res.kept_as, "message": res.message}
    if res.reference is None:
        errors = count(res.errors, "error")
        said = f"{filename}: {res.message} Kept as {res.kept_as}. {errors}." if filename else \
            f"{res.message} Kept as {res.kept_as}. {errors}."
        raise Problem(ProblemCode.NOT_ASSIGNED, said, upload=body)
    return JSONResponse(body, status_code=201 if created else 200)

