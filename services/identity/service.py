"""Wires the identity service: store, domain, handlers, consumers, outbox relay, gRPC server."""

from __future__ import annotations

from datetime import timedelta

import grpc.aio

from portalkit.auth import TokenIssuer, TokenVerifier
from portalkit.outbox import OutboxRelay
from portalkit.runtime import RunningService, ServiceDeps, serve
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.consumers import IdentityConsumers
from services.identity.domain import Identity, password_hasher
from services.identity.events import IdentityMail
from services.identity.handlers import IdentityHandlers
from services.identity.store import IdentityStore


async def start(deps: ServiceDeps, address: str) -> RunningService:
    settings = deps.settings
    store = IdentityStore(deps.db)
    await store.ensure_indexes()
    issuer = TokenIssuer(settings.jwt_private_key)

    async def own_keys() -> list:  # identity verifies with its own key, no network hop
        return [issuer.public_key]

    verifier = TokenVerifier(own_keys)
    identity = Identity(
        store,
        issuer,
        IdentityMail(settings.mail_from, settings.public_url),
        deps.clock,
        password_hasher(settings.argon2_profile),
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    relay = OutboxRelay(store.outbox_collections, deps.bus, deps.mailer, settings.outbox_poll_seconds)
    identity.after_write.append(relay.wake)
    handlers = IdentityHandlers(identity, verifier)

    def register(server: grpc.aio.Server) -> list[str]:
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(handlers, server)
        return [identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name]

    await IdentityConsumers(identity).subscribe(deps.bus)
    return await serve(deps, address, register, store.outbox_collections, {"domain": identity, "store": store}, relay)
