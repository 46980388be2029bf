"""docker-compose.yml and deploy/ are correct without a Docker engine: structure, variable names,
one database per service, health checks, a traces pipeline; plus docker-compose's own validation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("identity", "contacts", "cases", "billing")
REQUIRED = {*SERVICES, "gateway", "rabbitmq", "otel-collector", "jaeger", *(f"{s}-mongo" for s in SERVICES)}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_part_is_there_with_a_health_check(compose):
    services = compose["services"]
    assert set(services) >= REQUIRED
    for name in REQUIRED - {"otel-collector", "jaeger"}:
        assert "healthcheck" in services[name], name


def test_each_service_owns_its_database_and_uses_the_fixed_names(compose):
    services = compose["services"]
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["PORTAL_AMQP_URL"].startswith("amqp://")
        assert env["PORTAL_SMTP_URL"].startswith("smtp://")
        assert env["PORTAL_PUBLIC_URL"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
        uri = env[f"PORTAL_{name.upper()}_MONGODB_URI"]
        assert uri.startswith(f"mongodb://{name}-mongo:"), uri
        others = [k for k in env if k.endswith("_MONGODB_URI") and k != f"PORTAL_{name.upper()}_MONGODB_URI"]
        assert not others, f"{name} must not reach another service's database: {others}"
        assert services[name]["command"] == ["-m", f"services.{name}"]
        assert services[name]["depends_on"][f"{name}-mongo"]["condition"] == "service_healthy"
    assert services["cases"]["environment"]["PORTAL_INBOUND_SMTP_PORT"]
    assert services["gateway"]["environment"]["PORTAL_GATEWAY_PORT"] == "8000"


def test_collector_sends_traces_to_jaeger():
    config = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    traces = config["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"]
    assert any(config["exporters"][e]["endpoint"].startswith("jaeger:") for e in traces["exporters"])


def test_every_command_in_compose_exists(compose):
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if command[:1] == ["-m"]:
            module = ROOT / Path(*command[1].split("."))
            assert module.with_suffix(".py").exists() or (module / "__main__.py").exists(), (name, command)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_validates_it():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
