"""Tracing costs next to nothing while nothing is exported: spans are dropped at birth, and turn
into recorded, sampled spans as soon as a processor takes them."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision

from portalkit.telemetry import _WhenExported


def test_spans_are_dropped_until_something_exports_them():
    sampler = _WhenExported()
    provider = TracerProvider(sampler=sampler)
    tracer = provider.get_tracer("unit")
    with tracer.start_as_current_span("unexported") as span:
        assert not span.is_recording()
    assert sampler.should_sample(None, 1, "x").decision == Decision.DROP
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    sampler.exporting = True  # what add_span_processor / a configured exporter set
    with tracer.start_as_current_span("exported") as span:
        assert span.is_recording()
    assert [s.name for s in exported.get_finished_spans()] == ["exported"]
