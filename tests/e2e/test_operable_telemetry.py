"""Telemetry configured by the standard OTEL_* variables as the SDK defines them: a component run as
its own process with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf delivers spans, metrics and logs to an
OTLP/HTTP receiver (this test's own, decoding the protobuf payloads) under its own service.name; a
traces-only endpoint sends traces only; JSON logs carry zoned timestamps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.mailbox import free_port

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


class Receiver:
    """A minimal OTLP/HTTP collector: decodes each export and keeps (signal, service.name, payload)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                kind = PAYLOADS.get(self.path)
                if kind is not None:
                    request = kind.FromString(body)
                    for resource_data in getattr(request, next(f.name for f in kind.DESCRIPTOR.fields)):
                        attributes = {a.key: a.value.string_value for a in resource_data.resource.attributes}
                        receiver.received.append((self.path, attributes.get("service.name", ""), resource_data))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def signals(self, service: str) -> set[str]:
        return {path for path, name, _ in self.received if name == service}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()


def _run_contacts(env: dict[str, str]) -> tuple[str, str]:
    """`python -m services.contacts` until it serves, one traced health call, then SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.contacts"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            **env,
            "PORTAL_CONTACTS_GRPC_PORT": str(port),
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30, wait_for_ready=True)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out, err


def test_otlp_http_receives_spans_metrics_and_logs_with_the_service_name(receiver, direct_amqp_url):
    _, err = _run_contacts(
        {
            "PORTAL_AMQP_URL": direct_amqp_url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        }
    )
    assert receiver.signals("portal-contacts") == {"/v1/traces", "/v1/metrics", "/v1/logs"}, receiver.received
    names = {name for _, name, _ in receiver.received}
    assert names == {"portal-contacts"}
    first_log = json.loads(next(line for line in err.splitlines() if line.startswith("{")))
    assert first_log["time"].endswith("+00:00")


def test_a_traces_only_endpoint_sends_traces_only(receiver, direct_amqp_url):
    _run_contacts(
        {
            "PORTAL_AMQP_URL": direct_amqp_url,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.url}/v1/traces",
        }
    )
    assert receiver.signals("portal-contacts") == {"/v1/traces"}


def test_exporters_none_send_nothing(receiver, direct_amqp_url):
    _run_contacts(
        {
            "PORTAL_AMQP_URL": direct_amqp_url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    assert receiver.received == []


def test_the_embedded_stack_names_each_component(receiver, direct_amqp_url, tmp_path):
    """One process, five components: each span, log and exported metric is under its own
    component's service.name, as the distributed run names them (a login's gateway span and
    rpc.client.duration, identity's server span and rpc.server.duration)."""
    ports = {name: free_port() for name in ("GATEWAY", "IDENTITY", "CONTACTS", "CASES", "BILLING")}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PORTAL_"))},
            "PORTAL_AMQP_URL": direct_amqp_url,
            "PORTAL_GATEWAY_PORT": str(ports["GATEWAY"]),
            **{f"PORTAL_{name}_GRPC_PORT": str(port) for name, port in ports.items() if name != "GATEWAY"},
            "PORTAL_INBOUND_SMTP_PORT": str(free_port()),
            "PORTAL_MAIL_DIR": str(tmp_path / "mail"),
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the banner says it is up
            if "demo logins" in line:
                break
        body = json.dumps(
            {
                "query": 'mutation { login(email: "admin@acme.test", password: "portal-demo-pass")'
                " { user { email account { name } } } }"
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['GATEWAY']}/graphql",
            data=body,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["data"]["login"]["user"]["account"]["name"], answer
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err

    def span_names(service: str) -> set[str]:
        return {
            span.name
            for path, name, data in receiver.received
            if path == "/v1/traces" and name == service
            for scope in data.scope_spans  # type: ignore[attr-defined]
            for span in scope.spans
        }

    gateway, identity = span_names("portal-gateway"), span_names("portal-identity")
    assert "/identity.v1.IdentityService/Login" in gateway  # the gateway's client span
    assert "/identity.v1.IdentityService/Login" in identity  # identity's server span
    assert not any(name.startswith("/identity.v1") for name in span_names("portal-embedded"))
    traced = {name for path, name, _ in receiver.received if path == "/v1/traces"}
    assert {"portal-gateway", "portal-identity"} <= traced
    logged = {name for path, name, _ in receiver.received if path == "/v1/logs"}
    assert logged & {"portal-gateway", "portal-identity", "portal-contacts", "portal-cases", "portal-billing"}

    def metric_names(service: str) -> set[str]:
        return {
            metric.name
            for path, name, data in receiver.received
            if path == "/v1/metrics" and name == service
            for scope in data.scope_metrics  # type: ignore[attr-defined]
            for metric in scope.metrics
        }

    assert "rpc.client.duration" in metric_names("portal-gateway")  # the gateway's call to identity
    assert "rpc.server.duration" in metric_names("portal-identity")  # identity serving it
    assert "rpc.server.duration" not in metric_names("portal-gateway")
