"""contacts, cases, billing: their read rules, and each as a real gRPC server (health, auth, batch read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portalkit.auth import Caller, TokenIssuer, TokenVerifier
from portalkit.clock import Clock
from portalkit.config import PortalSettings
from portalkit.events import InProcessBus
from portalkit.mail import FolderMailer
from portalkit.mongo import connect
from portalkit.runtime import ServiceDeps
from protos.billing.v1 import billing_pb2, billing_pb2_grpc
from protos.cases.v1 import cases_pb2, cases_pb2_grpc
from protos.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.billing.service import start as start_billing
from services.cases import rules as case_rules
from services.cases.service import start as start_cases
from services.contacts.service import start as start_contacts

NOW = datetime(2026, 11, 23, tzinfo=UTC)
MANAGER = Caller("usr_m", "MANAGER", "acc_1", "s")
USER = Caller("usr_u", "USER", "acc_1", "s")
OTHER = Caller("usr_o", "ADMIN", "acc_2", "s")
AGENT = Caller("usr_a", "AGENT", "", "s")

SERVICES = {
    "contacts": (
        start_contacts,
        contacts_pb2_grpc.ContactsServiceStub,
        "BatchGetContacts",
        contacts_pb2.BatchGetContactsRequest,
        "contacts",
    ),
    "cases": (start_cases, cases_pb2_grpc.CasesServiceStub, "BatchGetCases", cases_pb2.BatchGetCasesRequest, "cases"),
    "billing": (
        start_billing,
        billing_pb2_grpc.BillingServiceStub,
        "BatchGetInvoices",
        billing_pb2.BatchGetInvoicesRequest,
        "invoices",
    ),
}


def _doc(doc_id: str, account: str, requester: str = "usr_u") -> dict:
    return {
        "_id": doc_id,
        "account_id": account,
        "requester_id": requester,
        "created_at": NOW,
        "number": "N-1",
        "subject": "s",
        "status": "NEW",
        "first_name": "F",
        "last_name": "L",
        "email": "e@x.test",
        "total_amount": "10.00",
        "currency": "USD",
    }


def test_case_visibility_follows_the_roles_matrix():
    own = _doc("c1", "acc_1", requester="usr_u")
    colleague = _doc("c2", "acc_1", requester="usr_x")
    assert case_rules.can_read(USER, own) and not case_rules.can_read(USER, colleague)
    assert case_rules.can_read(MANAGER, colleague)
    assert not case_rules.can_read(OTHER, own)
    assert case_rules.can_read(AGENT, colleague)


@pytest.mark.parametrize("name", list(SERVICES))
async def test_service_serves_health_auth_and_scoped_batch_reads(name, tmp_path):
    start, stub_class, method, request_class, field = SERVICES[name]
    issuer = TokenIssuer()

    async def keys():
        return [issuer.public_key]

    deps = ServiceDeps(
        name,
        PortalSettings(),
        connect("memory://", f"unit_{name}"),
        InProcessBus(),
        FolderMailer(str(tmp_path)),
        Clock(),
        TokenVerifier(keys),
    )
    service = await start(deps, "127.0.0.1:0")
    try:
        store = service.extras["store"]
        await store.insert(_doc("x_own", "acc_1", requester="usr_m"))
        await store.insert(_doc("x_other", "acc_2"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            call = getattr(stub_class(channel), method)
            token, _ = issuer.issue(MANAGER, datetime.now(UTC), timedelta(minutes=5))
            reply = await call(
                request_class(ids=["x_other", "missing", "x_own"]),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
            assert [item.id for item in getattr(reply, field)] == ["x_own"]
            forged, _ = TokenIssuer().issue(MANAGER, datetime.now(UTC), timedelta(minutes=5))
            for metadata in ((), (("authorization", f"Bearer {forged}"),)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(request_class(ids=["x_own"]), metadata=metadata, timeout=5)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await service.stop()
