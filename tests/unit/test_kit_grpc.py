"""The kit's guarded-by-default gRPC server: every method needs a verified caller unless the service
lists it as public; the handler reads the caller from the kit; domain errors keep their code and
reason; unary-stream methods get the same treatment. Also: domain code stays free of transports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grpc
import grpc.aio
import pytest

from portalkit.auth import Caller
from portalkit.errors import Conflict, FailedPrecondition, Unauthenticated
from portalkit.grpc_client import parse_rpc_error
from portalkit.grpc_server import ServiceServer, caller, caller_token

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "unit.v1.Probe"
ALICE = Caller("usr_alice", "ADMIN", "acc_1", "ses_1")


async def authenticate(token: str) -> Caller:
    if token != "good":
        raise Unauthenticated("invalid access token")
    return ALICE


async def whoami(request: bytes, context) -> bytes:
    return f"{caller().user_id} {caller_token()}".encode()


async def hello(request: bytes, context) -> bytes:
    return b"hello"


async def refuse(request: bytes, context) -> bytes:
    raise FailedPrecondition("this case is closed", reason="CASE_CLOSED")


async def crash(request: bytes, context) -> bytes:
    raise RuntimeError("secret internals")


async def download(request: bytes, context):
    yield caller().user_id.encode()
    yield b"chunk"
    raise Conflict("changed meanwhile")


def _add(server: grpc.aio.Server) -> None:
    handlers = {
        "WhoAmI": grpc.unary_unary_rpc_method_handler(whoami),
        "Hello": grpc.unary_unary_rpc_method_handler(hello),
        "Refuse": grpc.unary_unary_rpc_method_handler(refuse),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "Download": grpc.unary_stream_rpc_method_handler(download),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])


@pytest.fixture
async def channel():
    server = ServiceServer("probe", _add, [SERVICE], authenticate, public_methods={"Hello"})
    port = await server.start("127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(0)


def _call(channel, method: str, token: str = ""):
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    call = channel.unary_unary(f"/{SERVICE}/{method}")
    return call(b"", metadata=metadata, timeout=5)


async def test_methods_are_guarded_unless_listed_as_public(channel):
    assert await _call(channel, "Hello") == b"hello"
    assert await _call(channel, "WhoAmI", "good") == b"usr_alice good"  # the caller and their own token
    for token in ("", "forged"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _call(channel, "WhoAmI", token)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_domain_errors_keep_code_and_reason_and_internals_never_leave(channel):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(channel, "Refuse", "good")
    remote = parse_rpc_error(refused.value)
    assert (remote.code, remote.message, remote.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "this case is closed",
        "CASE_CLOSED",
    )
    with pytest.raises(grpc.aio.AioRpcError) as crashed:
        await _call(channel, "Crash", "good")
    assert crashed.value.code() == grpc.StatusCode.INTERNAL and "secret" not in str(crashed.value.details())


async def test_unary_stream_methods_are_guarded_and_mapped_too(channel):
    stream = channel.unary_stream(f"/{SERVICE}/Download")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        [item async for item in stream(b"", timeout=5)]
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        async for item in stream(b"", metadata=(("authorization", "Bearer good"),), timeout=5):
            received.append(item)
    assert received == [b"usr_alice", b"chunk"]
    assert failed.value.code() == grpc.StatusCode.ALREADY_EXISTS


FORBIDDEN_IN_DOMAIN = {"grpc", "pymongo", "bson", "motor", "aio_pika", "aiormq"}


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(ROOT) for p in ROOT.glob("services/*/*.py") if p.stem in {"domain", "rules"})
)
def test_domain_and_rules_import_no_transport_or_database_driver(path):
    tree = ast.parse((ROOT / path).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
            if node.module.endswith("_pb2_grpc"):
                imported.add("grpc")
    assert not imported & FORBIDDEN_IN_DOMAIN, f"{path} imports {imported & FORBIDDEN_IN_DOMAIN}"
    operators = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.fullmatch(r"\$[a-zA-Z]+", n.value)
    ]
    assert not operators, f"{path} builds a Mongo query ({operators}): that belongs in store.py"
