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
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from pythonjsonlogger.json import JsonFormatter

_provider: TracerProvider | None = None
_metrics_read = False
# The component (its service.name) whose work runs in this context: set where one process holds
# several (the embedded stack); tasks started inside inherit it. "" = the process's own name.
_component: ContextVar[str] = ContextVar("portal_component", default="")


class _TraceIdsFilter(logging.Filter):
    """Adds the current trace and span ids to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else ""
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else ""
        return True


class _ZonedJsonFormatter(JsonFormatter):
    """ISO 8601 timestamps with the zone (UTC), e.g. 2026-11-23T22:03:24.157+00:00."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def setup_logging(level: str | None = None) -> None:
    """JSON lines on stderr with trace ids; uvicorn's loggers propagate here (run it with log_config=None)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _ZonedJsonFormatter(
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


SIGNALS = {"traces": "OTEL_TRACES_EXPORTER", "metrics": "OTEL_METRICS_EXPORTER", "logs": "OTEL_LOGS_EXPORTER"}


def _exporter_names(signal: str) -> list[str]:
    """The exporters of one signal as the SDK reads them (OTEL_<SIGNAL>_EXPORTER = otlp, console,
    none, ...; `otlp` follows OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL: grpc or http/protobuf). When
    the exporter variable is unset, a signal is exported over OTLP only if an endpoint is configured
    for it (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT); otherwise it stays in
    process, so a plain run or test sends nothing anywhere."""
    from opentelemetry.sdk._configuration import _get_exporter_names

    variable = SIGNALS[signal]
    if not os.environ.get(variable):
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
        )
        return _get_exporter_names_with(variable, "otlp" if endpoint else "none", _get_exporter_names, signal)
    return list(_get_exporter_names(signal))  # type: ignore[arg-type]


def _get_exporter_names_with(variable: str, value: str, get: Any, signal: str) -> list[str]:
    os.environ[variable] = value
    try:
        return list(get(signal))
    finally:
        del os.environ[variable]


class _WhenExported(Sampler):
    """The configured sampler (OTEL_TRACES_SAMPLER / _ARG; default parent-based always-on) while a
    span processor takes spans; while none does, every span is dropped at birth (non-recording), so
    tracing costs next to nothing when nothing is exported. Trace context still propagates."""

    def __init__(self) -> None:
        self.exporting = False
        self._configured: Sampler | None = None

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        if not self.exporting:
            return _DROPPED
        if self._configured is None:
            self._configured = sampling._get_from_env_or_default()
        return self._configured.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "WhenExported"


_SAMPLER = _WhenExported()
_DROPPED = SamplingResult(Decision.DROP)  # immutable: one for every dropped span


def spans_exported() -> bool:
    """Whether any span processor takes spans: code on a hot path may skip making a span at all."""
    return _SAMPLER.exporting


def metrics_read() -> bool:
    """Whether any reader (an exporter's, or a test's in process) takes measurements."""
    return _metrics_read


@contextmanager
def component(service_name: str) -> Iterator[None]:
    """Spans and logs made inside the block, and by tasks started in it, are under `service_name`
    (e.g. portal-identity), so one process running several components (the embedded stack) reports
    each under its own name, as separate processes would. OTEL_SERVICE_NAME, when set, wins."""
    token = _component.set(service_name)
    try:
        yield
    finally:
        _component.reset(token)


def current_component() -> str:
    return _component.get()


class _ByComponent:
    """One SDK provider per component, all sharing the process's processors and exporters (so one
    export batch carries several resources), created on first use."""

    def __init__(self, default_resource: Resource, named: bool, make: Any) -> None:
        self._default_resource = default_resource
        self._named = named
        self._make = make
        self._providers: dict[str, Any] = {}

    def get(self, name: str, default: Any) -> Any:
        if not name or self._named:
            return default
        provider = self._providers.get(name)
        if provider is None:
            resource = self._default_resource.merge(Resource({"service.name": name}))
            provider = self._providers[name] = self._make(resource)
        return provider


class _ComponentTracerProvider(trace.TracerProvider):
    """The process's tracer provider: each span is started by the provider of the component current
    when it starts (see `component`); outside any, by the process's own."""

    def __init__(self, root: TracerProvider, components: _ByComponent) -> None:
        self.root = root
        self._components = components

    def provider(self) -> TracerProvider:
        return self._components.get(_component.get(), self.root)  # type: ignore[no-any-return]

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ComponentTracer(self, args, kwargs)


class _ComponentTracer(trace.Tracer):
    def __init__(self, provider: _ComponentTracerProvider, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._provider = provider
        self._args, self._kwargs = args, kwargs
        self._tracers: dict[str, trace.Tracer] = {}

    def _tracer(self) -> trace.Tracer:
        name = _component.get()
        found = self._tracers.get(name)
        if found is None:
            found = self._tracers[name] = self._provider.provider().get_tracer(*self._args, **self._kwargs)
        return found

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **kwargs)


class _ComponentMeterProvider(metrics.MeterProvider):
    """The process's meter provider: a synchronous instrument records into the meter provider of
    the component current when it records (one per component, each with its own exporting readers,
    made only when metrics are exported); otherwise, and for observable instruments, into the
    process's own (which in-process readers, as the tests', attach to)."""

    def __init__(self, root: MeterProvider, components: _ByComponent | None) -> None:
        self.root = root
        self._components = components

    def provider(self, name: str) -> MeterProvider:
        if self._components is None:
            return self.root
        return self._components.get(name, self.root)  # type: ignore[no-any-return]

    def get_meter(self, *args: Any, **kwargs: Any) -> metrics.Meter:
        return _ComponentMeter(self, args, kwargs)


class _ComponentMeter(metrics.Meter):
    def __init__(self, provider: _ComponentMeterProvider, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__(args[0] if args else kwargs.get("name", ""))
        self._provider = provider
        self._args, self._kwargs = args, kwargs
        self._meters: dict[str, metrics.Meter] = {}

    def meter(self, component: str) -> metrics.Meter:
        found = self._meters.get(component)
        if found is None:
            provider = self._provider.provider(component)
            found = self._meters[component] = provider.get_meter(*self._args, **self._kwargs)
        return found

    def _synchronous(self, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _ComponentInstrument(self, kind, args, kwargs)

    def create_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._synchronous("create_counter", args, kwargs)

    def create_up_down_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self._synchronous("create_up_down_counter", args, kwargs)

    def create_histogram(self, *args: Any, **kwargs: Any) -> Any:
        return self._synchronous("create_histogram", args, kwargs)

    def create_gauge(self, *args: Any, **kwargs: Any) -> Any:
        return self._synchronous("create_gauge", args, kwargs)

    def create_observable_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self.meter("").create_observable_counter(*args, **kwargs)

    def create_observable_gauge(self, *args: Any, **kwargs: Any) -> Any:
        return self.meter("").create_observable_gauge(*args, **kwargs)

    def create_observable_up_down_counter(self, *args: Any, **kwargs: Any) -> Any:
        return self.meter("").create_observable_up_down_counter(*args, **kwargs)


class _ComponentInstrument:
    """One instrument per component, made on first use there."""

    def __init__(self, meter: _ComponentMeter, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._meter, self._kind, self._args, self._kwargs = meter, kind, args, kwargs
        self._instruments: dict[str, Any] = {}

    def _instrument(self) -> Any:
        component = _component.get()
        found = self._instruments.get(component)
        if found is None:
            found = getattr(self._meter.meter(component), self._kind)(*self._args, **self._kwargs)
            self._instruments[component] = found
        return found

    def add(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._instrument().add(amount, attributes, context)

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._instrument().record(amount, attributes, context)

    def set(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._instrument().set(amount, attributes, context)


class _ComponentLogHandler(logging.Handler):
    """Exports each log record through the logger provider of the component current when it is made."""

    def __init__(self, root: Any, components: _ByComponent) -> None:
        super().__init__(level=logging.NOTSET)
        from opentelemetry.instrumentation.logging.handler import LoggingHandler

        self._root = LoggingHandler(level=logging.NOTSET, logger_provider=root)
        self._components = components
        self._handlers: dict[str, logging.Handler] = {}
        self._make = lambda provider: LoggingHandler(level=logging.NOTSET, logger_provider=provider)

    def emit(self, record: logging.LogRecord) -> None:
        name = _component.get()
        handler = self._handlers.get(name)
        if handler is None:
            provider = self._components.get(name, None)
            handler = self._handlers[name] = self._root if provider is None else self._make(provider)
        handler.handle(record)


def setup_telemetry(service_name: str, metric_readers: list[MetricReader] | None = None) -> TracerProvider:
    """Install the tracer, meter and logger providers from the standard OTEL_* variables (the SDK
    picks and configures the exporters: endpoints, headers, protocol, timeouts; Resource.create reads
    OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES) and the gRPC and AMQP instrumentations (once per
    process). Spans, logs and exported metrics are named per component (`component`); in-process
    readers (`metric_readers`, for tests) read the process's own metrics."""
    global _provider, _metrics_read
    if _provider is not None:
        return _provider
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._configuration import _import_exporters
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over the component's own name
    named = bool(os.environ.get("OTEL_SERVICE_NAME")) or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": service_name})
    span_exporters, metric_exporters, log_exporters = _import_exporters(
        _exporter_names("traces"), _exporter_names("metrics"), _exporter_names("logs")
    )
    provider = TracerProvider(resource=resource, sampler=_SAMPLER)
    for span_exporter in span_exporters.values():
        provider.add_span_processor(BatchSpanProcessor(span_exporter()))
        _SAMPLER.exporting = True
    readers = list(metric_readers or [])
    tracer_providers = _ByComponent(
        resource,
        named,
        lambda named_resource: TracerProvider(
            resource=named_resource,
            sampler=_SAMPLER,
            shutdown_on_exit=False,
            active_span_processor=provider._active_span_processor,
        ),
    )
    trace.set_tracer_provider(_ComponentTracerProvider(provider, tracer_providers))

    def exporting_readers() -> list[MetricReader]:
        made: list[MetricReader] = []
        for metric_exporter in metric_exporters.values():
            if issubclass(metric_exporter, MetricReader):
                made.append(metric_exporter())
            else:
                made.append(PeriodicExportingMetricReader(metric_exporter()))
        return made

    meter_providers = (
        _ByComponent(
            resource,
            named,
            lambda named_resource: MeterProvider(
                resource=named_resource, metric_readers=exporting_readers(), shutdown_on_exit=True
            ),
        )
        if metric_exporters
        else None
    )
    _metrics_read = bool(readers or metric_exporters)
    if _metrics_read:
        root_meter_provider = MeterProvider(resource=resource, metric_readers=[*readers, *exporting_readers()])
        metrics.set_meter_provider(_ComponentMeterProvider(root_meter_provider, meter_providers))
    else:  # nothing would read a measurement: instruments that record nothing, at no cost
        metrics.set_meter_provider(metrics.NoOpMeterProvider())
    if log_exporters:
        logger_provider = LoggerProvider(resource=resource)
        for log_exporter in log_exporters.values():
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter()))
        set_logger_provider(logger_provider)
        logger_providers = _ByComponent(
            resource,
            named,
            lambda named_resource: LoggerProvider(
                resource=named_resource,
                shutdown_on_exit=False,
                multi_log_record_processor=logger_provider._multi_log_record_processor,
            ),
        )
        logging.getLogger().addHandler(_ComponentLogHandler(logger_provider, logger_providers))

    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer

    GrpcAioInstrumentorServer().instrument()  # client spans: portalkit.grpc_client.call
    AioPikaInstrumentor().instrument()
    _provider = provider
    return provider


def add_span_processor(processor: SpanProcessor) -> None:
    if _provider is None:
        raise RuntimeError("setup_telemetry() first")
    _provider.add_span_processor(processor)
    _SAMPLER.exporting = True


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
