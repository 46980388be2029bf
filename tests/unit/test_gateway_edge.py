"""The gateway's outermost layer: every request runs in its own server span, whose parent can only be
the caller's traceparent, both while telemetry is observed (OpenTelemetry's ASGI middleware) and
while nothing exports or reads it (the sampler's dropped span, made directly)."""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack import asgi
from gateway.app import RequestEdge
from portalkit.telemetry import _WhenExported

CALLER_SPAN = "3" * 16


def _gateway(observed: bool, seen: list[trace.SpanContext]) -> tuple[Starlette, TracerProvider]:
    """A Starlette app with the edge outermost, as create_app builds it, and its own tracer provider
    (exporting when `observed`, dropping every span when not, as the process's does)."""
    sampler = _WhenExported()
    provider = TracerProvider(sampler=sampler)
    if observed:
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        sampler.exporting = True

    async def graphql(request: Request) -> Response:
        seen.append(trace.get_current_span().get_span_context())
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])
    app.add_middleware(RequestEdge, observed=lambda: observed, tracer_provider=provider)
    return app, provider


async def _request(app: Starlette, headers: list[tuple[bytes, bytes]]) -> list[MutableMapping[str, Any]]:
    return await asgi.call(app, "POST", "/graphql", [(b"host", b"gateway"), *headers])


@pytest.mark.parametrize("observed", [True, False], ids=["observed", "unobserved"])
async def test_each_request_continues_only_its_callers_trace(observed: bool) -> None:
    seen: list[trace.SpanContext] = []
    app, provider = _gateway(observed, seen)
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{CALLER_SPAN}-01".encode()
    with provider.get_tracer("unit").start_as_current_span("the serving task's own") as serving:
        answered = await _request(app, [(b"traceparent", traceparent)])
        await _request(app, [])
        await _request(app, [])
        assert trace.get_current_span() is serving  # the edge leaves the caller's context as it was

    assert [m["type"] for m in answered] == ["http.response.start", "http.response.body"]
    assert answered[0]["status"] == 200
    continued, fresh, other = seen
    assert continued.trace_id == int(trace_id, 16)
    assert continued.span_id not in (0, int(CALLER_SPAN, 16))  # the gateway's own span under the caller's
    assert continued.trace_flags.sampled is observed
    outer = serving.get_span_context().trace_id
    assert fresh.is_valid and other.is_valid  # log lines and the calls behind still carry trace ids
    assert len({fresh.trace_id, other.trace_id, outer, continued.trace_id}) == 4  # nothing inherited


@pytest.mark.parametrize("observed", [True, False], ids=["observed", "unobserved"])
async def test_a_malformed_traceparent_starts_a_new_trace(observed: bool) -> None:
    seen: list[trace.SpanContext] = []
    app, _ = _gateway(observed, seen)
    answered = await _request(app, [(b"traceparent", b"00-not-a-trace-01")])
    assert answered[0]["status"] == 200
    assert seen[0].is_valid and seen[0].span_id != 0
