"""The Prefect API that `isap dashboard` and `isap ingest` run beside them answers only to them.

It listens on loopback, where any local user or process can reach it, and a
Prefect API creates and runs deployments: without a credential it would hand
the machine to whoever asks.  The managed server gets a credential made at its
start; here a real one is started and asked, over HTTP and over the events
websocket (which Prefect's HTTP check once did not cover: PrefectHQ/prefect#17687),
with and without it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from isap.orchestration.processes import Children, auth_headers, prefect_server, startup_timeout, wait_for_api
from tests.conftest import seed_prefect_home

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def managed_server(tmp_path_factory):
    """The managed server, started as `isap` starts it; yields its URL and the credential its clients get."""
    home = seed_prefect_home(tmp_path_factory.mktemp("prefect-auth"))
    saved = dict(os.environ)
    os.environ.pop("PREFECT_API_KEY", None)
    os.environ.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "PREFECT_SERVER_UI_ENABLED": "false", "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false"})
    try:
        with Children() as children:
            url = prefect_server(children)
            auth = os.environ["PREFECT_API_AUTH_STRING"]
            assert wait_for_api(url, max(startup_timeout(), 120), children.procs[-1]), "the server did not answer"
            yield url, auth
    finally:
        os.environ.clear()
        os.environ.update(saved)


def post(url: str, headers: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps({"limit": 1}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_credential_is_made_for_this_run_and_given_to_isap_and_its_children(managed_server):
    url, auth = managed_server
    user, _, password = auth.partition(":")
    assert user == "isap" and len(password) >= 40  # secrets.token_urlsafe(32): 43 characters
    assert os.environ["PREFECT_API_URL"] == url and "PREFECT_API_KEY" not in os.environ


@pytest.mark.parametrize("path", ["/flow_runs/filter", "/deployments/filter", "/work_pools/filter"])
def test_the_api_refuses_a_request_without_the_credential(managed_server, path):
    url, auth = managed_server
    assert post(url + path, {}) == 401
    assert post(url + path, auth_headers("isap:not-the-password")) == 401
    assert post(url + path, auth_headers(auth)) == 200


def test_prefects_own_client_presents_the_credential(managed_server):
    """isap's flows and workers reach the server through Prefect's client, which reads the environment."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def count() -> int:
        async with get_client() as client:
            return len(await client.read_flow_runs(limit=1))

    assert asyncio.run(count()) >= 0


def events_socket(url: str, path: str, subprotocols: list[str] | None, auth_message: dict | None):
    """Open one of the server's websockets and say what happened: "open" or how it was closed."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    ws_url = url.replace("http://", "ws://") + path
    try:
        with connect(ws_url, subprotocols=subprotocols, open_timeout=10, close_timeout=5) as ws:
            if auth_message is not None:
                ws.send(json.dumps(auth_message))
            try:
                # An accepted socket stays open: the events stream sends nothing until there are events.
                ws.recv(timeout=1)
                return "open"
            except TimeoutError:
                return "open"
    except ConnectionClosed as exc:
        return f"closed {exc.rcvd.code if exc.rcvd else None}"
    except InvalidStatus as exc:
        return f"refused {exc.response.status_code}"


@pytest.mark.parametrize("path", ["/events/in", "/events/out", "/logs/out", "/task_runs/subscriptions/scheduled",
                                  "/work_pools/isap/workers/connect"])
def test_the_websockets_refuse_a_client_without_the_credential(managed_server, path):
    """What Prefect 3.8.8 does (see docs/deployment.md): the handshake of a socket without the "prefect"
    subprotocol is refused (403); with it, the first message must be {"type": "auth", "token": <credential>},
    and anything else closes the socket (1008) before the server reads or sends anything."""
    url, auth = managed_server
    event = {"occurred": "2026-12-01T00:00:00Z", "event": "isap.test", "resource": {"prefect.resource.id": "x"},
             "id": "00000000-0000-0000-0000-000000000001"}
    assert events_socket(url, path, None, None) == "refused 403"
    assert events_socket(url, path, None, {"type": "auth", "token": auth}) == "refused 403"
    assert events_socket(url, path, ["prefect"], {"type": "auth", "token": None}) == "closed 1008"
    assert events_socket(url, path, ["prefect"], {"type": "auth", "token": "isap:not-the-password"}) == "closed 1008"
    assert events_socket(url, path, ["prefect"], event) == "closed 1008"  # an event instead of the credential
    assert events_socket(url, path, ["prefect"], {"type": "auth", "token": auth}) == "open"


def test_the_managed_server_registers_no_block_types(managed_server):
    """isap's flows use no Prefect blocks, so its server starts without registering Prefect's block types (a
    quarter of a start's processor time)."""
    url, auth = managed_server
    request = urllib.request.Request(url + "/block_types/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json", **auth_headers(auth)})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert json.loads(r.read()) == []
