"""Session fixtures: the real stack (gRPC services + gateway over HTTP), real RabbitMQ reached
through a proxy the fault tests control, a real SMTP server catching mail, a movable clock.

Each session runs in its own RabbitMQ virtual host, so runs never see each other's queues.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.embedded import Stack, start_stack
from portalkit.clock import ManualClock
from portalkit.events import RetryPolicy
from portalkit.telemetry import add_span_processor, setup_telemetry
from services.billing.demo import load_demo as load_demo_billing
from services.cases.demo import load_demo as load_demo_cases
from services.contacts.demo import load_demo as load_demo_contacts
from services.identity.demo import load_demo
from tests.support.graphql import GraphQLClient
from tests.support.mailbox import Mailbox
from tests.support.tcp_proxy import TcpProxy
from tests.support.tokens import DemoTokens

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
SPANS = InMemorySpanExporter()
METRICS = InMemoryMetricReader()


def _rabbitmqctl(*args: str) -> bool:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        return False
    return subprocess.run([tool, "-q", *args], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="session")
def vhost() -> Iterator[str]:
    """A fresh virtual host for this run ('' = the default one, if rabbitmqctl is not usable)."""
    name = f"portal-test-{uuid.uuid4().hex[:8]}"
    if _rabbitmqctl("add_vhost", name) and _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*"):
        yield name
        _rabbitmqctl("delete_vhost", name)
    else:
        yield ""


@pytest.fixture(scope="session")
def direct_amqp_url(vhost: str) -> str:
    """Straight to RabbitMQ, for the tests' own partner queues."""
    return f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}"


@pytest.fixture(scope="session")
async def broker_proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(RABBIT_HOST, RABBIT_PORT)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    return SPANS


@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:
    return METRICS


@pytest.fixture(scope="session")
async def stack(broker_proxy: TcpProxy, mailbox: Mailbox, vhost: str, tmp_path_factory: Any) -> AsyncIterator[Stack]:
    setup_telemetry("portal-tests", metric_readers=[METRICS])
    add_span_processor(SimpleSpanProcessor(SPANS))
    settings = {
        "amqp_url": f"amqp://guest:guest@127.0.0.1:{broker_proxy.port}/{vhost}",
        "smtp_url": mailbox.url,
        "mail_dir": str(tmp_path_factory.mktemp("mail")),
        "public_url": "https://portal.example.test",
        "argon2_profile": "fast",
        "outbox_poll_seconds": 0.2,
    }
    stack = await start_stack(
        settings,
        clock=ManualClock(),
        allow_in_process_bus=False,
        retry=RetryPolicy(max_attempts=3, first_delay_seconds=0.2, factor=2),
    )
    stack.extras["demo"] = {d.email: d for d in await load_demo(stack.services["identity"].domain)}
    accounts = {d.account: d.account_id for d in stack.extras["demo"].values() if d.account_id}
    await load_demo_contacts(stack.services["contacts"].domain, accounts)
    await load_demo_cases(stack.services["cases"].domain, list(stack.extras["demo"].values()))
    await load_demo_billing(stack.services["billing"].domain, accounts)
    stack.extras["settings"] = settings
    yield stack
    await stack.stop()


@pytest.fixture(scope="session")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=20) as client:
        yield client


@pytest.fixture(scope="session")
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
def clock(stack: Stack) -> Iterator[ManualClock]:
    """The stack's clock; any time travel is undone after the test."""
    clock = stack.clock
    assert isinstance(clock, ManualClock)
    yield clock
    clock.offset = type(clock.offset)()


@pytest.fixture
def demo(stack: Stack) -> dict[str, Any]:
    return stack.extras["demo"]


@pytest.fixture(scope="session")
def tokens(stack: Stack, gql: GraphQLClient) -> DemoTokens:
    """Demo users' access tokens, logged in once per session (see tests/support/tokens.py)."""
    return DemoTokens(gql.token, lambda: getattr(stack.clock, "offset", timedelta()))
