"""Configuration from the environment (12-factor). Variable names are fixed by design.md section 8."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("identity", "contacts", "cases", "billing")
DEFAULT_GRPC_PORTS = {"identity": 50051, "contacts": 50052, "cases": 50053, "billing": 50054}


class PortalSettings(BaseSettings):
    """Settings shared by every process. Per-service values are read with the helpers below."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    smtp_url: str = ""
    # Where outgoing mail is written as .eml files when no SMTP server is configured.
    mail_dir: str = ".portal-mail"
    mail_from: str = "Customer Portal <no-reply@portal.test>"
    public_url: str = "http://127.0.0.1:8000"
    gateway_port: int = 8000
    inbound_smtp_port: int = 2525
    # PEM private key identity signs access tokens with; generated per process when empty.
    jwt_private_key: str = ""
    access_token_ttl_seconds: int = Field(default=600, le=600)
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    # "fast" lowers argon2 cost; for tests only.
    argon2_profile: str = "standard"
    # Seconds between outbox sweeps (a write also wakes the relay at once).
    outbox_poll_seconds: float = 1.0
    grpc_deadline_seconds: float = 5.0


def service_mongodb_uri(service: str) -> str:
    return os.environ.get(f"PORTAL_{service.upper()}_MONGODB_URI", "memory://")


def service_grpc_port(service: str) -> int:
    return int(os.environ.get(f"PORTAL_{service.upper()}_GRPC_PORT", DEFAULT_GRPC_PORTS[service]))


def service_grpc_address(service: str) -> str:
    """Where clients reach a service, e.g. `identity:50051` in docker-compose."""
    default = f"127.0.0.1:{service_grpc_port(service)}"
    return os.environ.get(f"PORTAL_{service.upper()}_GRPC_ADDR", default)
