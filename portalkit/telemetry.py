"""OpenTelemetry tracing and JSON logs with trace ids.

`setup_telemetry` must run before any gRPC server/channel, AMQP connection or Starlette app is
created: the instrumentors patch modules at call time (see stack-notes.md). Export is configured by
the standard OTEL_* variables; with no exporter endpoint set, spans stay in process (and tests may
attach an in-memory exporter through `add_span_processor`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pythonjsonlogger.json import JsonFormatter

_provider: TracerProvider | None = None


class _TraceIdsFilter(logging.Filter):
    """Adds the current trace and span ids to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else ""
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else ""
        return True


def setup_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_TraceIdsFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("PORTAL_LOG_LEVEL", "INFO"))
    for noisy in ("aiormq", "aio_pika", "grpc", "uvicorn.access", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def setup_telemetry(service_name: str, metric_readers: list[MetricReader] | None = None) -> TracerProvider:
    """Install the tracer and meter providers and the gRPC and AMQP instrumentations (once per
    process). `metric_readers` lets tests read metrics in process."""
    global _provider
    if _provider is not None:
        return _provider
    os.environ.setdefault("OTEL_SERVICE_NAME", service_name)
    resource = Resource.create({"service.name": os.environ["OTEL_SERVICE_NAME"]})
    provider = TracerProvider(resource=resource)
    readers = list(metric_readers or [])
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))

    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer

    GrpcAioInstrumentorServer().instrument()
    GrpcAioInstrumentorClient().instrument()
    AioPikaInstrumentor().instrument()
    _provider = provider
    return provider


def add_span_processor(processor: SpanProcessor) -> None:
    if _provider is None:
        raise RuntimeError("setup_telemetry() first")
    _provider.add_span_processor(processor)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str:
    """The W3C traceparent of the active span ('' outside a trace), for storing with an event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def continued_trace(traceparent: str) -> Iterator[Any]:
    """Make `traceparent` the parent of the spans started inside the block."""
    ctx = propagate.extract({"traceparent": traceparent}) if traceparent else otel_context.get_current()
    token = otel_context.attach(ctx)
    try:
        yield ctx
    finally:
        otel_context.detach(token)
