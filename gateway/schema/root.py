"""The schema, assembled from the domain packages: each contributes its root fields (Query, Mutation,
Subscription mixins), its node-id prefixes (NODES), the types no field reaches yet (TYPES) and its
reference fields (REFERENCES, prefetched for whole lists).
A new domain is a package gateway/schema/<domain>/ with those names and one line in DOMAINS."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, Protocol

import strawberry
from graphql import DocumentNode, GraphQLError, NoSchemaIntrospectionCustomRule, execute
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, validate_document
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType

from gateway.errors import PortalError, shape_error, without_suggestions
from gateway.limits import MAX_TOKENS, check_document
from gateway.schema import billing, cases, contacts, identity
from gateway.schema.common import Ctx, Node, NodeResolver, References
from gateway.schema.execution import PrefetchingExecutor, references_of, resolve_references_directly

DOCUMENT_CACHE_SIZE = 512


class Policy:
    """What this gateway lets callers see of the schema (PORTAL_GRAPHQL_INTROSPECTION), set once
    by create_app."""

    introspection = True


POLICY = Policy()
LARGE_DOCUMENT_CHARS = 2_000


class Domain(Protocol):
    """What a domain package exposes (its __init__)."""

    @property
    def Query(self) -> type: ...

    @property
    def Mutation(self) -> type: ...

    @property
    def Subscription(self) -> type: ...

    @property
    def NODES(self) -> Mapping[str, NodeResolver]: ...

    @property
    def TYPES(self) -> Sequence[type]: ...

    @property
    def REFERENCES(self) -> References: ...


DOMAINS: list[Domain] = [identity, contacts, cases, billing]


def node_registry(domains: Sequence[Domain]) -> dict[str, NodeResolver]:
    """Id prefix (`usr_`) → the owning domain's resolver; a prefix may belong to one domain only."""
    registry: dict[str, NodeResolver] = {}
    for domain in domains:
        for prefix, resolve in domain.NODES.items():
            if prefix in registry or not prefix.endswith("_") or "_" in prefix[:-1]:
                raise ValueError(f"node id prefix {prefix!r}: taken by another domain, or not `xxx_`")
            registry[prefix] = resolve
    return registry


NODES = node_registry(DOMAINS)


async def resolve_node(info: Ctx, node_id: str) -> Node | None:
    head, underscore, _ = node_id.partition("_")
    resolve = NODES.get(head + underscore)
    return await resolve(info, node_id) if resolve else None


@strawberry.type
class NodeQuery:
    @strawberry.field
    async def node(self, info: Ctx, id: strawberry.ID) -> Node | None:
        await info.context.caller()
        return await resolve_node(info, str(id))


# Fields in DOMAINS order, `node` first as in the contract.
Query = merge_types("Query", (NodeQuery, *(d.Query for d in DOMAINS)))
Mutation = merge_types("Mutation", tuple(d.Mutation for d in DOMAINS))
Subscription = merge_types("Subscription", tuple(d.Subscription for d in DOMAINS))


class RequestPipeline(ParserCache):
    """What every operation goes through, as one extension (each extension costs every request its
    hooks' context managers): the token limit on parsing; documents parsed once per query text
    (Strawberry's shared LRU); the document's limits (gateway.limits: linear, no fragment
    expansion, page sizes as the variables give them), then graphql-core's validation only for
    documents within them, remembered by query text in a bounded LRU so a front end's repeated
    queries validate once; and every error leaving with an extensions.code and without internals
    (gateway.errors)."""

    def __init__(self) -> None:
        super().__init__(maxsize=DOCUMENT_CACHE_SIZE)

    def on_operation(self):  # type: ignore[no-untyped-def]
        self.execution_context.parse_options["max_tokens"] = MAX_TOKENS
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shape_error(e) for e in result.errors]

    def on_parse(self):  # type: ignore[no-untyped-def]
        # a document that does not parse is left to strawberry's own parse step, which reports
        # the syntax error as a request error (the cache would raise it from inside the extension)
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield

    async def on_validate(self):  # type: ignore[no-untyped-def]
        context = self.execution_context
        # the name the client sent (strawberry's `operation_name` falls back to the first operation's)
        operation_name = getattr(context, "_provided_operation_name", None)
        document = context.graphql_document
        assert document is not None
        variables = context.variables or {}
        over_http, limit_key = _limit_key(context.query, operation_name, context.context, variables)
        limit = _limits.get(limit_key, _UNCHECKED)
        if limit is _UNCHECKED:
            limit = check_document(schema._schema, document, operation_name, over_http=over_http, variables=variables)
            _limits.put(limit_key, limit)
        if limit is not None:
            context.pre_execution_errors = [PortalError(limit.message, "BAD_USER_INPUT", limit.reason)]
        else:
            key = (context.query or "", POLICY.introspection)
            errors = _validated.get(key)
            if errors is None:
                errors = await self._validate(context)
                _validated.put(key, errors)
            context.pre_execution_errors = list(errors)
            if not errors:  # the next request with this key may skip the pipeline (PortalSchema.execute)
                _runnable.put((*limit_key, POLICY.introspection), Runnable(document, context.operation_type))
        yield

    @staticmethod
    async def _validate(context: Any) -> list[GraphQLError]:
        rules = tuple(context.validation_rules)
        if not POLICY.introspection:
            rules = (*rules, NoSchemaIntrospectionCustomRule)
        if len(context.query or "") > LARGE_DOCUMENT_CHARS:
            # validation grows faster than the document; a large one runs beside the event loop
            errors = await asyncio.to_thread(validate_document, schema._schema, context.graphql_document, rules)
        else:
            errors = validate_document(schema._schema, context.graphql_document, rules)
        return errors if POLICY.introspection else [without_suggestions(e) for e in errors]


class _LRU:
    """A bounded map that forgets the least recently used entry."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, missing: Any = None) -> Any:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        return missing

    def put(self, key: Any, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


def _limit_key(query: str | None, operation_name: str | None, context: Any, variables: Mapping[str, Any]) -> Any:
    """Whether the request came over HTTP, and what its limits depend on: the query text, the
    operation the client named, the transport and what check_document reads of the variables (a
    page size's integer, or that it is unset / not one)."""
    request = getattr(context, "request", None)
    over_http = request is None or request.scope.get("type") == "http"
    sizes = tuple(sorted((k, v if v is None or isinstance(v, int) else ...) for k, v in variables.items()))
    return over_http, (query or "", operation_name, over_http, sizes)


@dataclass(frozen=True)
class Runnable:
    """A document that parsed, passed the limits and validated for a limit key: what running it
    again needs."""

    document: DocumentNode
    operation_type: OperationType


_validated = _LRU(DOCUMENT_CACHE_SIZE)
# a document's limits by query text, operation, transport and page-size variables (None = within them)
_limits = _LRU(DOCUMENT_CACHE_SIZE)
# (limit key, introspection policy) → Runnable: documents that went through the whole pipeline cleanly
_runnable = _LRU(DOCUMENT_CACHE_SIZE)
_UNCHECKED = object()


class PortalSchema(strawberry.Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """A document this pipeline has already parsed, limited and validated cleanly for the same
        key runs straight on graphql-core's executor (`execute_runnable`); Strawberry's whole
        pipeline runs for anything else (see `runnable`)."""
        allowed = DEFAULT_ALLOWED_OPERATION_TYPES if allowed_operation_types is None else allowed_operation_types
        runnable = self.runnable(query, operation_name, context_value, variable_values, allowed)
        if runnable is None:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        return await self.execute_runnable(
            runnable, variable_values, context_value, root_value, operation_name, operation_extensions
        )

    def runnable(
        self,
        query: Any,
        operation_name: Any,
        context_value: Any,
        variable_values: Any,
        allowed_operation_types: Iterable[OperationType],
    ) -> Runnable | None:
        """The document, if this request may skip the pipeline: its query text, operation, transport,
        page-size variables and the introspection policy went through every step cleanly before,
        its operation type is allowed here, and no extension with hooks is active (the tracing one
        inside a recorded trace), nor directives or incremental delivery. None: the whole pipeline
        runs (a document's first time, one that failed a step, a request whose parts are of the
        wrong types: the pipeline reports those)."""
        if not (
            isinstance(query, str)
            and isinstance(operation_name, str | None)
            and isinstance(variable_values, dict | None)
        ):
            return None
        _, limit_key = _limit_key(query, operation_name, context_value, variable_values or {})
        runnable: Runnable | None = _runnable.get((*limit_key, POLICY.introspection))
        if runnable is None or runnable.operation_type not in allowed_operation_types or not self._plain():
            return None
        return runnable

    async def execute_runnable(
        self,
        runnable: Runnable,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        root_value: Any,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """What Strawberry's execute does for a document whose hooks have nothing left to do: the
        same executor, context and arguments, errors shaped as RequestPipeline shapes them."""
        result = execute(
            self._schema,
            runnable.document,
            root_value=root_value,
            variable_values=variable_values,
            operation_name=operation_name,
            context_value=context_value,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # what strawberry passes
            **execution_context_class_kwargs(self.execution_context_class),
            operation_extensions=operation_extensions,
        )
        if isawaitable(result):
            result = await result
        errors = [shape_error(e) for e in result.errors] if result.errors else None
        return ExecutionResult(data=result.data, errors=errors, extensions={})

    def _plain(self) -> bool:
        """Only RequestPipeline (whose work the caches hold) and extensions that override nothing
        (portal_tracing outside a recorded trace); no schema directives, no incremental delivery."""
        if self.directives or self.config.enable_experimental_incremental_execution:
            return False
        # RequestPipeline itself is not made for this check: it is known to be one of them
        made = (e if isinstance(e, SchemaExtension) else e() for e in self.extensions if e is not RequestPipeline)
        return all(type(e) in _HOOKLESS for e in made)

    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        """Client errors are not ours to log; shape_error logs the unexpected ones."""

    # A subscription refused before it starts (parse, validation, limits) reaches WebSocket clients
    # as an `error` message, built from the stream's first result: shape it like every other error.
    async def subscribe(self, *args: Any, **kwargs: Any) -> Any:
        result = await super().subscribe(*args, **kwargs)
        return _shaped(result) if isinstance(result, PreExecutionError) else _shaped_stream(result)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return _shaped_stream(await super().stream(*args, **kwargs))


def _shaped(result: Any) -> Any:
    if isinstance(result, PreExecutionError) and result.errors:
        result.errors = [shape_error(e) for e in result.errors]
    return result


async def _shaped_stream(source: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    try:
        async for result in source:
            yield _shaped(result)
    finally:
        await source.aclose()


_HOOKLESS = (RequestPipeline, SchemaExtension)
PrefetchingExecutor.references = references_of(DOMAINS)
schema = PortalSchema(
    execution_context_class=PrefetchingExecutor,
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[t for d in DOMAINS for t in d.TYPES],
    extensions=[RequestPipeline],
)
resolve_references_directly(schema._schema, PrefetchingExecutor.references)
