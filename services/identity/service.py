"""The identity service's composition root: `build(settings)` wires store, domain, handlers,
consumers and the kit's Service (relay, guarded server)."""

from __future__ import annotations

from datetime import timedelta

from portalkit.auth import Caller, PublicKey, TokenIssuer, TokenVerifier
from portalkit.config import ServiceSettings
from portalkit.service import GrpcApi, Infrastructure, Service
from protos.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.bootstrap import bootstrap_step
from services.identity.consumers import consumers
from services.identity.domain import Identity, password_hasher
from services.identity.events import IdentityMail
from services.identity.handlers import PUBLIC_METHODS, IdentityHandlers
from services.identity.store import IdentityStore


class IdentitySettings(ServiceSettings):
    service = "identity"
    # PEM private key identity signs access tokens with; generated per process when empty.
    jwt_private_key: str = ""
    access_token_ttl_seconds: int = 600
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    # "fast" lowers argon2 cost; for tests only.
    argon2_profile: str = "standard"


def build(settings: IdentitySettings, infra: Infrastructure | None = None) -> Service:
    infra = (infra or Infrastructure()).complete(settings)
    store = IdentityStore(infra.db)
    issuer = TokenIssuer(settings.jwt_private_key)
    identity = Identity(
        store,
        issuer,
        IdentityMail(settings.mail_from, settings.public_url),
        infra.clock,
        password_hasher(settings.argon2_profile),
        access_ttl=timedelta(seconds=min(settings.access_token_ttl_seconds, 600)),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )

    async def own_keys() -> list[PublicKey]:  # identity verifies with its own key, no network hop
        return [issuer.public_key]

    verifier = TokenVerifier(own_keys)

    async def authenticate(token: str) -> Caller:
        # identity's own calls also require the login session to be live (logout, deactivation)
        return await identity.current_caller(await verifier.verify(token))

    api = GrpcApi.of(identity_pb2, identity_pb2_grpc, IdentityHandlers(identity), PUBLIC_METHODS)
    return Service(
        settings, infra, store, identity, api, authenticate, consumers(identity), on_start=[bootstrap_step(identity)]
    )
