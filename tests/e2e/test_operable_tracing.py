"""GraphQL spans per operation and resolver, with no password or token in any span."""

from __future__ import annotations

from tests.support.settle import until

PASSWORD = "portal-demo-pass"


def _values(span) -> str:
    return " ".join(str(v) for v in (span.attributes or {}).values()) + " " + span.name


async def test_graphql_operation_and_resolver_spans_carry_no_secret(gql, spans):
    spans.clear()
    inline = await gql.ok(
        f'mutation Inline {{ login(email: "user@acme.test", password: "{PASSWORD}") {{ accessToken }} }}'
    )
    token = inline["login"]["accessToken"]
    await gql.ok(
        "mutation ByVariables($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": "user@acme.test", "p": PASSWORD},
    )
    await gql.ok("query Who { me { email } }", token=token)

    async def traced() -> bool:
        names = {s.name for s in spans.get_finished_spans()}
        return {"GraphQL Query: Who", "GraphQL Resolving: login", "GraphQL Resolving: me"} <= names

    await until(traced, "the GraphQL spans were recorded")
    finished = spans.get_finished_spans()
    login_spans = [s for s in finished if s.name == "GraphQL Resolving: login"]
    assert login_spans and all(s.attributes["graphql.param.password"] == "[filtered]" for s in login_spans)
    for span in finished:
        text = _values(span)
        assert PASSWORD not in text, span.name
        assert token not in text, span.name


async def test_rpc_client_duration_is_recorded_per_method(gql, tokens, metric_reader):
    await gql.ok("{ me { email } }", token=await tokens("user@acme.test"))
    points = [
        point
        for resource in metric_reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "rpc.client.duration"
        for point in metric.data.data_points
    ]
    methods = {(p.attributes["rpc.service"], p.attributes["rpc.method"]) for p in points}
    assert ("identity.v1.IdentityService", "GetMe") in methods
    assert all(p.attributes["rpc.system"] == "grpc" for p in points)


async def test_access_log_line_per_request_with_its_trace_id(http, spans, caplog):
    spans.clear()
    with caplog.at_level("INFO", logger="gateway.access"):
        response = await http.post("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 200
        await until(lambda: _has_access_record(caplog), "the access log line was written")
    (record,) = [r for r in caplog.records if r.name == "gateway.access" and r.getMessage() == "POST /graphql 200"]
    assert record.duration_ms >= 0 and len(record.trace_id) == 32
    server_spans = [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == record.trace_id]
    assert server_spans, "the logged trace id is the request's trace"


async def _has_access_record(caplog) -> bool:
    return any(r.name == "gateway.access" for r in caplog.records)
