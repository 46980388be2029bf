"""What a browser client and a newcomer hit over HTTP: CORS, compression and caching of GraphiQL's
assets, GraphiQL's `?query=` prefill, readiness that does not hinge on every service, and ports that
are refused with one line instead of being shared or answered with a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devstack.embedded import serve_http, start_stack
from gateway import graphiql_assets
from gateway.app import create_app
from gateway.clients import ServiceClients
from portalkit.auth import TokenVerifier
from portalkit.config import PortInUse
from tests.support.mailbox import free_port

ROOT = Path(__file__).resolve().parents[2]
APP_ORIGIN = "https://app.example.test"


@pytest.fixture
async def cors_gateway(stack) -> AsyncIterator[httpx.AsyncClient]:
    """A second gateway on the same services, configured as PORTAL_CORS_ORIGINS would."""
    clients = ServiceClients({name: stack.address(name) for name in stack.services})
    app = create_app(clients, TokenVerifier(clients.signing_keys), None, cors_origins=[APP_ORIGIN])
    server, task, port = await serve_http(app)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
        yield http
    server.should_exit = True
    await task


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_cors_preflight_and_request_from_an_allowed_origin(cors_gateway, tokens):
    preflight = await cors_gateway.options("/graphql", headers=_preflight(APP_ORIGIN))
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]

    token = await tokens("user@acme.test")
    response = await cors_gateway.post(
        "/graphql",
        json={"query": "{ me { email } }"},
        headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert response.json()["data"]["me"]["email"] == "user@acme.test"
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN

    refused = await cors_gateway.options("/graphql", headers=_preflight("https://evil.example.test"))
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_unset_means_same_origin_only(http):
    preflight = await http.options("/graphql", headers=_preflight(APP_ORIGIN))
    assert "access-control-allow-origin" not in preflight.headers


async def test_wildcard_cors_never_allows_credentials(stack):
    clients = ServiceClients({name: stack.address(name) for name in stack.services})
    app = create_app(clients, TokenVerifier(clients.signing_keys), None, cors_origins=["*"])
    server, task, port = await serve_http(app)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            preflight = await http.options("/graphql", headers=_preflight(APP_ORIGIN))
        assert preflight.status_code == 200
        assert preflight.headers.get("access-control-allow-credentials") != "true"
    finally:
        server.should_exit = True
        await task


@pytest.mark.skipif(not graphiql_assets.assets_installed(), reason="GraphiQL assets not installed")
async def test_graphiql_assets_are_content_hashed_compressed_and_immutable(http):
    page = await http.get("/graphql", headers={"accept": "text/html"})
    hashed = f"/graphiql-assets/{graphiql_assets.assets_hash()}/graphiql/graphiql.min.js"
    assert hashed in page.text
    asset = await http.get(hashed, headers={"accept-encoding": "gzip"})
    assert asset.status_code == 200
    assert asset.headers["content-encoding"] == "gzip"
    assert int(asset.headers.get("content-length", "0")) < 0.5 * len(asset.content)  # content is decoded
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    small = await http.get("/healthz", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers  # under the threshold


NODE_HARNESS = r"""
const fs = require('fs');
const html = fs.readFileSync(0, 'utf8');
const script = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(m => m[1]).join('\n');
let props = null;
globalThis.location = new URL(process.argv[process.argv.length - 1]);
globalThis.document = { getElementById: () => ({}) };
globalThis.GraphiQL = { createFetcher: () => () => null };
globalThis.React = { createElement: (_component, p) => { props = p; return null; } };
globalThis.ReactDOM = { createRoot: () => ({ render: () => null }) };
new Function(script)();
process.stdout.write(JSON.stringify({ query: props.query, variables: props.variables, defaultQuery: !!props.defaultQuery }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
async def test_graphiql_prefills_the_query_from_a_shared_link(http):
    """The served page's own script, run with GraphiQL stubbed, hands `?query=` to GraphiQL."""
    page = await http.get("/graphql", headers={"accept": "text/html"})
    url = "http://127.0.0.1/graphql?" + str(httpx.QueryParams({"query": "{ me { email } }", "variables": '{"a":1}'}))
    run = await asyncio.to_thread(
        subprocess.run,
        ["node", "-e", NODE_HARNESS, url],
        input=page.text,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    props = json.loads(run.stdout)
    assert props == {"query": "{ me { email } }", "variables": '{"a":1}', "defaultQuery": True}


async def test_readiness_is_the_gateway_and_its_keys_with_detail_per_dependency(stack, http):
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["signingKeys"] is True
    detail = (await http.get("/healthz/detail")).json()
    assert detail["services"] == {"identity": True, "contacts": True, "cases": True, "billing": True}
    assert detail["broker"] is True


async def test_a_second_stack_on_the_same_grpc_port_is_refused_with_one_line(stack, monkeypatch):
    port = stack.services["contacts"].port
    for name in ("identity", "cases", "billing"):
        monkeypatch.setenv(f"PORTAL_{name.upper()}_GRPC_PORT", str(free_port()))
    monkeypatch.setenv("PORTAL_CONTACTS_GRPC_PORT", str(port))
    unreachable_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # the second stack: in-process bus
    with pytest.raises(PortInUse) as refused:
        second = await start_stack({"amqp_url": unreachable_broker}, fixed_ports=True)
        await second.stop()  # pragma: no cover - only if it wrongly started
    message = str(refused.value)
    assert "\n" not in message
    assert f":{port}" in message and "PORTAL_CONTACTS_GRPC_PORT" in message
    # the first stack still answers with its own data
    assert (await httpx.AsyncClient().get(f"{stack.gateway_url}/readyz")).status_code == 200


async def test_a_taken_inbound_mail_port_is_refused_with_one_line(stack):
    taken, port = _listening_socket()
    unreachable_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    try:
        with pytest.raises(PortInUse) as refused:
            second = await start_stack({"amqp_url": unreachable_broker, "inbound_smtp_port": port})
            await second.stop()  # pragma: no cover - only if it wrongly started
    finally:
        taken.close()
    message = str(refused.value)
    assert "\n" not in message and "cases inbound" in message
    assert f":{port}" in message and "PORTAL_INBOUND_SMTP_PORT" in message


def _listening_socket() -> tuple[socket.socket, int]:
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen()
    return taken, taken.getsockname()[1]


@pytest.mark.parametrize(
    ("module", "variable"),
    [("gateway", "PORTAL_GATEWAY_PORT"), ("services.contacts", "PORTAL_CONTACTS_GRPC_PORT")],
)
def test_a_process_on_a_taken_port_exits_with_one_line(module, variable, direct_amqp_url):
    taken, port = _listening_socket()
    with taken:
        env = {**os.environ, variable: str(port), "PORTAL_AMQP_URL": direct_amqp_url, "OTEL_SDK_DISABLED": "true"}
        run = subprocess.run(
            [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1, run.stderr
    assert str(port) in lines[0] and variable in lines[0]


def test_readme_lists_every_port_variable():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for variable in [
        "PORTAL_GATEWAY_PORT",
        *(f"PORTAL_{s}_GRPC_PORT" for s in ("IDENTITY", "CONTACTS", "CASES", "BILLING")),
    ]:
        assert variable in readme, variable
