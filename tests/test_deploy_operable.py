"""docker-compose as an operator expects: memory limits and rotated logs on every long-running
container, the broker on loopback only, the bootstrap admin and CORS passed through."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_container_has_a_memory_limit_and_rotated_logs():
    for name, service in _services().items():
        assert service.get("mem_limit"), f"{name}: no memory limit"
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file" and logging["options"]["max-size"], f"{name}: logs not rotated"


def test_no_broker_port_faces_the_network():
    for port in _services()["rabbitmq"].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port


def test_bootstrap_admin_and_cors_are_configurable():
    services = _services()
    identity = services["identity"]["environment"]
    assert {"PORTAL_BOOTSTRAP_ADMIN_EMAIL", "PORTAL_BOOTSTRAP_ADMIN_PASSWORD"} <= set(identity)
    assert "PORTAL_CORS_ORIGINS" in services["gateway"]["environment"]
    for name, service in services.items():
        if name != "identity":
            assert "PORTAL_BOOTSTRAP_ADMIN_PASSWORD" not in (service.get("environment") or {}), name
