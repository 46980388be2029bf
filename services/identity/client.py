"""What other processes use of identity: its public signing keys, to verify access tokens
themselves (the gateway and every other service)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc.aio

from portalkit.auth import KeySource, PublicKey, TokenVerifier
from portalkit.grpc_client import call, open_channel
from protos.identity.v1 import identity_pb2, identity_pb2_grpc


def signing_keys(address: str, deadline: float = 3.0) -> KeySource:
    """Fetch identity's public signing keys over gRPC (a fresh read, with a deadline)."""
    channel: grpc.aio.Channel | None = None

    async def fetch() -> Sequence[PublicKey]:
        nonlocal channel
        if channel is None:
            channel = open_channel(address, identity_pb2_grpc.IdentityServiceStub)
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        response = await call(stub.GetSigningKeys, identity_pb2.GetSigningKeysRequest(), timeout=deadline)
        return [PublicKey(k.key_id, k.public_key_pem) for k in response.keys]

    return fetch


def token_verifier(address: str) -> TokenVerifier:
    return TokenVerifier(signing_keys(address))
