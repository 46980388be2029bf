"""How the gateway's HTTP server treats proxies (PORTAL_TRUSTED_PROXIES)."""

from __future__ import annotations

from typing import Any


def proxy_options(trusted_proxies: str) -> dict[str, Any]:
    """uvicorn options: X-Forwarded-For/-Proto are believed only from the listed proxy addresses;
    with none listed they are ignored altogether (the peer address is the client), so a client
    cannot pick its own address for the per-client login limit."""
    addresses = [a.strip() for a in trusted_proxies.split(",") if a.strip()]
    return {"proxy_headers": bool(addresses), "forwarded_allow_ips": addresses or None}
