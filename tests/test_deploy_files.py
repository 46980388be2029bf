"""The distributed-run files are right without a Docker engine or a cluster: docker-compose.yml
(every part present with a health check, the fixed variable names, one database per service,
ports that agree), the collector config, the image, the container health check (run against a real
gRPC health server and a real HTTP server), the Kubernetes manifests, and docker compose's own
validation when a validator is installed."""

from __future__ import annotations

import http.server
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from urllib.parse import urlparse

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from devstack.embedded import SERVICES as STACK
from portalkit import config
from services.identity.bootstrap import BootstrapAdmin

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICES = config.SERVICES  # identity, contacts, cases, billing
APPS = (*SERVICES, "gateway")
REQUIRED = {
    *APPS,
    "rabbitmq",
    "otel-collector",
    "jaeger",
    *(f"{s}-mongo" for s in SERVICES),
}
# design.md section 8: names every deployment and outside harness relies on
FIXED_SHARED = ("PORTAL_AMQP_URL", "PORTAL_SMTP_URL", "PORTAL_PUBLIC_URL", "OTEL_EXPORTER_OTLP_ENDPOINT")


def known_portal_variables() -> set[str]:
    """Every PORTAL_* variable the code reads: the settings fields and the per-service helpers."""
    names = {f"PORTAL_{field.upper()}" for field in config.PortalSettings.model_fields}
    for _, settings_class in STACK.values():
        names |= {f"PORTAL_{field.upper()}" for field in settings_class.model_fields}
    for service in SERVICES:
        names |= {f"PORTAL_{service.upper()}_{suffix}" for suffix in ("MONGODB_URI", "GRPC_PORT", "GRPC_ADDR")}
    names |= {f"PORTAL_BOOTSTRAP_ADMIN_{field.upper()}" for field in BootstrapAdmin.model_fields}
    names |= {"PORTAL_SEED_GATEWAY_URL"}  # devstack.seed_api
    return names | {"PORTAL_LOG_LEVEL"}  # portalkit.telemetry.setup_logging


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def collector() -> dict:
    return yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())


def healthcheck_command(service: dict) -> list[str]:
    test = service["healthcheck"]["test"]
    assert isinstance(test, list), "exec form, so no shell is needed in the image"
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return test[1:]


# --- docker-compose.yml ---------------------------------------------------------------------


def test_every_part_is_there_with_a_health_check(services):
    missing = REQUIRED - set(services)
    assert not missing, f"docker-compose.yml lacks {sorted(missing)}"
    for name in sorted(REQUIRED | {"mailpit"}):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
        assert not services[name]["healthcheck"].get("disable"), name
        assert healthcheck_command(services[name]), name


def test_infrastructure_images_and_health_checks(services):
    for service in SERVICES:
        mongo = services[f"{service}-mongo"]
        assert mongo["image"].startswith("mongo:7"), mongo["image"]
        assert "ping" in " ".join(healthcheck_command(mongo))
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["image"].startswith("rabbitmq:3.13-management")
    assert healthcheck_command(rabbitmq) == ["rabbitmq-diagnostics", "-q", "ping"]
    # the broker's default password never faces a network: its ports are on the host's loopback only
    assert set(rabbitmq["ports"]) == {"127.0.0.1:5672:5672", "127.0.0.1:15672:15672"}
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")  # v1 images are end of life
    assert "receivers.otlp.protocols.grpc.endpoint=0.0.0.0:4317" in services["jaeger"]["command"]
    assert "16686:16686" in services["jaeger"]["ports"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert {"1025:1025", "8025:8025"} <= set(services["mailpit"]["ports"])


def test_each_service_owns_its_database_and_uses_the_fixed_names(services):
    for name in SERVICES:
        env = services[name]["environment"]
        for variable in FIXED_SHARED:
            assert env.get(variable), f"{name}: {variable} is not set"
        assert env["PORTAL_AMQP_URL"].startswith("amqp://")
        assert urlparse(env["PORTAL_AMQP_URL"]).hostname == "rabbitmq"
        assert urlparse(env["PORTAL_SMTP_URL"]).hostname == "mailpit"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
        assert env["OTEL_SERVICE_NAME"] == f"portal-{name}"

        own = f"PORTAL_{name.upper()}_MONGODB_URI"
        uri = urlparse(env[own])
        assert uri.scheme == "mongodb" and uri.hostname == f"{name}-mongo", env[own]
        assert uri.path == f"/portal_{name}", env[own]
        others = sorted(k for k in env if k.endswith("_MONGODB_URI") and k != own)
        assert not others, f"{name} must not reach another service's database: {others}"

        assert services[name]["command"] == ["-m", f"services.{name}"]
        assert services[name]["depends_on"][f"{name}-mongo"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert services["cases"]["environment"]["PORTAL_INBOUND_SMTP_PORT"] == "2525"
    assert "2525:2525" in services["cases"]["ports"]


def test_gateway_reaches_every_service_and_waits_for_them(services):
    gateway = services["gateway"]
    env = gateway["environment"]
    assert gateway["command"] == ["-m", "gateway"]
    for variable in FIXED_SHARED:
        assert env.get(variable), f"gateway: {variable} is not set"
    assert not [k for k in env if k.endswith("_MONGODB_URI")], "the gateway owns no data"
    for service in SERVICES:
        assert env[f"PORTAL_{service.upper()}_GRPC_ADDR"] == f"{service}:{config.DEFAULT_GRPC_PORTS[service]}"
        assert gateway["depends_on"][service]["condition"] == "service_healthy"
    port = env["PORTAL_GATEWAY_PORT"]
    assert port == "8000"
    assert f"{port}:{port}" in gateway["ports"]
    assert healthcheck_command(gateway)[-2:] == ["http", f"http://127.0.0.1:{port}/readyz"]


def test_grpc_ports_agree_everywhere(services):
    for service in SERVICES:
        port = str(config.DEFAULT_GRPC_PORTS[service])
        env = services[service]["environment"]
        assert env[f"PORTAL_{service.upper()}_GRPC_PORT"] == port
        assert env[f"PORTAL_{service.upper()}_GRPC_ADDR"] == f"{service}:{port}"
        assert healthcheck_command(services[service]) == ["python", "/app/deploy/healthcheck.py", "grpc", port]


def test_only_variables_the_code_reads(services):
    """A misspelt PORTAL_* name would be silently ignored by the code: none may appear."""
    known = known_portal_variables()
    for name, service in services.items():
        unknown = sorted(k for k in (service.get("environment") or {}) if k.startswith("PORTAL_") and k not in known)
        assert not unknown, f"{name}: variables no code reads: {unknown}"


def test_signing_key_goes_to_identity_only(services):
    holders = sorted(name for name, s in services.items() if "PORTAL_JWT_PRIVATE_KEY" in (s.get("environment") or {}))
    assert holders == ["identity"]


def test_dependencies_exist_and_health_conditions_have_health_checks(services):
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on with conditions"
        for target, rule in depends_on.items():
            assert target in services, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no healthcheck"


def test_seed_is_a_one_shot_in_its_profile(services):
    seed = services["seed"]
    assert seed["profiles"] == ["seed"]
    assert seed["command"] == ["-m", "devstack.seed"]
    assert seed["restart"] == "no"
    for service in SERVICES:
        uri = urlparse(seed["environment"][f"PORTAL_{service.upper()}_MONGODB_URI"])
        assert uri.hostname == f"{service}-mongo"


def test_app_containers_restart_and_share_one_image(services):
    for name in APPS:
        assert services[name]["restart"] in ("unless-stopped", "always", "on-failure"), name
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert len({services[name]["image"] for name in (*APPS, "seed")}) == 1


def test_every_command_in_compose_exists(services):
    for name, service in services.items():
        command = service.get("command") or []
        if command[:1] == ["-m"]:
            module = ROOT / Path(*command[1].split("."))
            assert module.with_suffix(".py").exists() or (module / "__main__.py").exists(), (name, command)


def test_every_file_compose_refers_to_exists(services):
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = ROOT / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, volume)


# --- the OpenTelemetry collector ------------------------------------------------------------


def test_collector_sends_traces_to_jaeger(collector):
    traces = collector["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"]
    to_jaeger = [e for e in traces["exporters"] if collector["exporters"][e].get("endpoint") == "jaeger:4317"]
    assert to_jaeger, "no traces exporter sends to jaeger:4317"
    assert collector["exporters"][to_jaeger[0]]["tls"]["insecure"] is True
    assert "batch" in traces["processors"]
    protocols = collector["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"


def test_collector_exposes_metrics_for_prometheus(collector):
    metrics = collector["service"]["pipelines"]["metrics"]
    assert "prometheus" in metrics["exporters"]
    assert collector["exporters"]["prometheus"]["endpoint"].endswith(":8889")
    assert "debug" in collector["exporters"]


def test_collector_pipelines_only_use_defined_components(collector):
    """What `otelcol validate` would reject first: a pipeline naming an undefined component."""
    for pipeline, spec in collector["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in spec.get(kind, []):
                assert component in collector[kind], f"{pipeline}: {kind[:-1]} {component} is not defined"
        processors = spec.get("processors", [])
        if "memory_limiter" in processors:
            assert processors[0] == "memory_limiter", "memory_limiter must come first"
    for extension in collector["service"].get("extensions", []):
        assert extension in collector["extensions"], extension


def test_collector_health_check_matches_its_extension(services, collector):
    port = collector["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    assert healthcheck_command(services["otel-collector"])[-1] == f"http://127.0.0.1:{port}/"
    dockerfile = (DEPLOY / "otel-collector.Dockerfile").read_text()
    config_path = re.search(r"--config=(\S+?)\"", dockerfile)
    assert config_path, "the collector image names its config file"
    mounts = services["otel-collector"]["volumes"]
    assert f"./deploy/otel-collector.yaml:{config_path.group(1)}:ro" in mounts


# --- the image ------------------------------------------------------------------------------


def test_dockerfile_builds_the_locked_environment_as_a_non_root_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", dockerfile, re.M)
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "scripts/gen_protos.sh" in dockerfile
    assert 'ENTRYPOINT ["python"]' in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    wanted = re.search(r"^UV_VERSION=(\S+)$", setup, re.M)
    assert wanted, "scripts/setup.sh pins UV_VERSION"
    assert f"ARG UV_VERSION={wanted.group(1)}" in dockerfile, "the image and setup.sh use the same uv"


def test_dockerignore_keeps_host_artefacts_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "gateway/graphiql/node_modules", "protos/**/*_pb2*.py"} <= ignored
    for needed in ("deploy", "portalkit", "services", "gateway", "devstack", "protos", "scripts"):
        assert needed not in ignored, f"{needed} is needed in the image"


# --- deploy/healthcheck.py against real servers ---------------------------------------------


def run_healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), *args], capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port, servicer
    finally:
        server.stop(None)


def test_grpc_healthcheck_follows_the_serving_status(health_server):
    port, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert run_healthcheck("grpc", str(port)).returncode == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    result = run_healthcheck("grpc", str(port))
    assert result.returncode == 1
    assert "NOT_SERVING" in result.stderr


def test_grpc_healthcheck_fails_when_nothing_listens():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_healthcheck("grpc", str(port))
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/readyz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_healthcheck_wants_200(http_server):
    assert run_healthcheck("http", f"{http_server}/readyz").returncode == 0
    result = run_healthcheck("http", f"{http_server}/not-ready")
    assert result.returncode == 1
    assert "503" in result.stderr
    assert run_healthcheck("http", "file:///etc/passwd").returncode == 1
    assert run_healthcheck("nonsense").returncode == 2


# --- Kubernetes manifests (deploy/k8s) ------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> list[dict]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    documents: list[dict] = []
    for resource in kustomization["resources"]:
        path = DEPLOY / "k8s" / resource
        assert path.is_file(), resource
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document), document
        assert document["metadata"]["name"]
    return documents


def of_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def test_k8s_has_a_deployment_and_service_per_component(k8s):
    deployments, k8s_services = of_kind(k8s, "Deployment"), of_kind(k8s, "Service")
    assert set(deployments) == set(APPS)
    assert set(k8s_services) == set(APPS)
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        selector = spec["selector"]["matchLabels"]
        pod_labels = spec["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items(), name
        service = k8s_services[name]
        assert service["spec"]["selector"].items() <= pod_labels.items(), name
        (container,) = spec["template"]["spec"]["containers"]
        port_names = {p["name"] for p in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, (name, port)
        expected = ["-m", "gateway" if name == "gateway" else f"services.{name}"]
        assert container["args"] == expected
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["readinessProbe"] and container["livenessProbe"], name


def test_k8s_config_and_secrets(k8s):
    (configmap,) = of_kind(k8s, "ConfigMap").values()
    known = known_portal_variables()
    unknown = sorted(k for k in configmap["data"] if k.startswith("PORTAL_") and k not in known)
    assert not unknown, unknown
    assert not [k for k in configmap["data"] if k.endswith(("_MONGODB_URI", "JWT_PRIVATE_KEY", "AMQP_URL"))], (
        "credentials belong in Secrets"
    )
    examples = {
        d["metadata"]["name"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "secrets.example.yaml").read_text())
    }
    for name, deployment in of_kind(k8s, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in container["envFrom"]
        env = {e["name"]: e for e in container["env"]}
        for entry in env.values():
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in examples[ref["name"]]["stringData"], (name, ref)
        uris = sorted(k for k in env if k.endswith("_MONGODB_URI"))
        assert uris == ([] if name == "gateway" else [f"PORTAL_{name.upper()}_MONGODB_URI"]), name
        assert ("PORTAL_JWT_PRIVATE_KEY" in env) == (name == "identity"), name
        if name != "gateway":
            port = config.DEFAULT_GRPC_PORTS[name]
            assert container["readinessProbe"]["grpc"]["port"] == port
            assert configmap["data"][f"PORTAL_{name.upper()}_GRPC_ADDR"] == f"{name}:{port}"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: kustomize build not run")
def test_kustomize_builds_the_manifests():
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert kinds.count("Deployment") == len(APPS)


# --- docker compose's own validation ---------------------------------------------------------


def offline_compose() -> list[str] | None:
    """`docker compose` (v2) if its plugin works here, else `docker-compose` (v1); both validate
    a file without an engine."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


COMPOSE = offline_compose()


@pytest.mark.skipif(
    COMPOSE is None,
    reason="neither `docker compose` nor `docker-compose` is installed (Debian: apt-get install docker-compose;"
    " deploy/validate.sh installs it)",
)
def test_docker_compose_validates_it():
    assert COMPOSE is not None
    result = subprocess.run(
        [*COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "--profile", "seed", "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_production_manifests_hide_the_schema_and_the_grpc_api():
    configmap = yaml.safe_load((ROOT / "deploy/k8s/configmap.yaml").read_text())["data"]
    assert configmap["PORTAL_GRAPHQL_INTROSPECTION"] == "false"
    assert configmap["PORTAL_GRPC_REFLECTION"] == "false"
