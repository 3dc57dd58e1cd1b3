"""Downloads of a proposal's data, served only to the signed-in person the page offered them to.

Streamlit serves `st.download_button` files from `/media/<id>` to anyone who
has the address, with no sign-in: an id made from the file's own bytes, which
anyone who holds the file can compute.  Originals, annotated copies, reports,
letters and histories are personal and commercial data, so the dashboard
serves them from its own route instead (`dashboards/server.py`): a page offers
a download as a link to `/download/<offer>`, where the offer is an unguessable
token bound to the browser's session credential and to the account it signed
in.  The route answers only a request that carries that same credential, asks
the service whether the session still signs that account in (signing out ends
every download at once), and only then makes the file, as that account: what
the person may read is decided by the service at the moment of the download,
never by the page.  Any other request gets the same short refusal, whether the
offer never existed or belongs to someone else: a browser with no sign-in is
told to sign in, a signed-in one that the link was made for another page.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from isap.review.sessions import COOKIE_NAME

PATH = "/download"
SSO_COOKIE = "_streamlit_user"  # Streamlit's own sign-in cookie, when people sign in with single sign-on
MOST_OFFERS = 5000  # offers kept at once (each tab's latest per button); the oldest go first


@dataclass(frozen=True)
class Offer:
    credential: str  # SHA-256 of the browser credential the page was shown with
    username: str
    single_sign_on: bool
    make: Callable[[str], bytes]  # given the account's user name, the file's bytes (through the service)
    file_name: str
    mime: str


_lock = threading.Lock()
_offers: "OrderedDict[str, Offer]" = OrderedDict()
_slots: dict[tuple[str, str], str] = {}  # (Streamlit session, button) -> its current offer


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def make_offer(slot: tuple[str, str], credential: str, username: str, single_sign_on: bool,
               make: Callable[[str], bytes], file_name: str, mime: str) -> str:
    """Register a download for `username`, bound to `credential`; its address.  A slot (a tab's button)
    keeps only its latest offer."""
    token = secrets.token_urlsafe(32)
    with _lock:
        old = _slots.pop(slot, None)
        if old is not None:
            _offers.pop(old, None)
        _offers[token] = Offer(_digest(credential), username, single_sign_on, make, file_name, mime)
        _slots[slot] = token
        while len(_offers) > MOST_OFFERS:
            gone, _ = _offers.popitem(last=False)
            for k in [k for k, v in _slots.items() if v == gone]:
                del _slots[k]
    return f"{PATH}/{token}"


def offered(token: str, cookies: dict[str, str]) -> Offer | None:
    """The offer `token` names, if this request carries the credential it was made for."""
    with _lock:
        found = _offers.get(token)
    if found is None:
        return None
    credential = cookies.get(SSO_COOKIE if found.single_sign_on else COOKIE_NAME)
    if not credential or not secrets.compare_digest(_digest(credential), found.credential):
        return None
    return found


def disposition(file_name: str) -> str:
    """An attachment header that survives any file name (RFC 6266: a plain fallback and the UTF-8 name)."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in file_name)
    return f"attachment; filename=\"{plain or 'download'}\"; filename*=UTF-8''{quote(file_name, safe='')}"


REFUSED = "Sign in to ISAP to download this file, from the page that offers it."
# to a browser that is signed in: a link copied from another person's page, or from a session that has ended
NOT_THIS_SESSION = ("This download link was made for another person's page or an earlier sign-in: download the "
                    "file from the page that offers it to you.")


def _refusal(request):
    """The refusal's words depend only on whether the browser carries a sign-in, never on the offer."""
    from starlette.responses import PlainTextResponse

    signed_in = bool(request.cookies.get(COOKIE_NAME) or request.cookies.get(SSO_COOKIE))
    return PlainTextResponse(NOT_THIS_SESSION if signed_in else REFUSED, status_code=403,
                             headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


async def serve(request):
    """The `/download/<offer>` route: the file, to the person it was offered to while their session lasts."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, Response

    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    offer = offered(request.path_params.get("token", ""), dict(request.cookies))
    if offer is None:
        return _refusal(request)
    from isap.composition import service
    from isap.review.service import SessionEnded, StoreError, WorkflowError

    svc = await run_in_threadpool(service)
    if not offer.single_sign_on:
        try:
            account = await run_in_threadpool(svc.session_user, request.cookies[COOKIE_NAME])
        except SessionEnded:
            return _refusal(request)
        if account.username != offer.username:
            return _refusal(request)
    try:
        data = await run_in_threadpool(offer.make, offer.username)
    except WorkflowError as exc:  # no longer the person's to read (or gone): the service's own words
        return PlainTextResponse(str(exc), status_code=404, headers=headers)
    except StoreError as exc:
        return PlainTextResponse(f"The file cannot be read now: {exc}", status_code=503, headers=headers)
    return Response(data, media_type=offer.mime,
                    headers={**headers, "Content-Disposition": disposition(offer.file_name)})


def routes() -> list:
    from starlette.routing import Route

    return [Route(PATH + "/{token}", serve, methods=["GET"])]
