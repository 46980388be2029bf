"""GraphQL spans per operation and per resolver (Strawberry's OpenTelemetry extension) that carry
no secret: sensitive arguments are filtered, input objects are not expanded, and string literals in
the recorded query text are blanked (a password typed inline stays out of the trace)."""

from __future__ import annotations

import enum
import re
from collections.abc import Generator
from typing import Any

from opentelemetry import trace
from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.types.execution import ExecutionContext

SENSITIVE = re.compile(r"pass|token|secret|card|cvc|cvv|iban|key|code", re.IGNORECASE)
FILTERED = "[filtered]"
_STRING_LITERAL = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\]|\\.)*"')


def filter_args(args: dict[str, Any], info: Any) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in args.items():
        if SENSITIVE.search(name):
            kept[name] = FILTERED
        elif value is None or isinstance(value, bool | int | float | str):
            kept[name] = value
        elif isinstance(value, enum.Enum):
            kept[name] = value.name
        else:  # input objects and lists: their fields could hold anything
            kept[name] = f"[{type(value).__name__}]"
    return kept


def redact_literals(query: str) -> str:
    return _STRING_LITERAL.sub('"…"', query)


class PortalTracing(OpenTelemetryExtension):
    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        super().__init__(execution_context=execution_context, arg_filter=filter_args)

    def filter_resolver_args(self, args: dict[str, Any], info: Any) -> dict[str, Any]:
        # the base class deep-copies first, which fails on uploads (open files); ours only reads
        return filter_args(args, info)

    def on_operation(self) -> Generator[None, None, None]:
        steps = super().on_operation()
        next(steps)
        span = self._span_holder.get(LifecycleStep.OPERATION)
        if span is not None and self.execution_context.query:
            span.set_attribute("query", redact_literals(self.execution_context.query))
        yield
        for _ in steps:
            pass


def portal_tracing() -> SchemaExtension:
    """Each request's tracing extension (Strawberry calls this per request): PortalTracing inside a
    recorded trace; otherwise an extension that overrides no hook, so an unsampled request pays
    nothing for GraphQL spans (Strawberry runs only the hooks an extension overrides, and wraps
    resolvers only for one that overrides `resolve`)."""
    return PortalTracing() if trace.get_current_span().is_recording() else SchemaExtension()
