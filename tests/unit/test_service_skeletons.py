"""contacts, cases, billing: their read rules, and each as a real gRPC server (health, auth, batch read)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from portalkit.auth import Caller, TokenIssuer, TokenVerifier
from portalkit.batch import MAX_BATCH
from portalkit.config import settings_for
from portalkit.errors import InvalidInput
from portalkit.events import InProcessBus
from portalkit.mail import FolderMailer
from portalkit.mongo import connect
from portalkit.service import Infrastructure
from protos.billing.v1 import billing_pb2, billing_pb2_grpc
from protos.cases.v1 import cases_pb2, cases_pb2_grpc
from protos.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from services.billing import rules as billing_rules
from services.billing import service as billing_service
from services.billing.domain import Billing
from services.billing.store import BillingStore
from services.cases import rules as case_rules
from services.cases import service as cases_service
from services.cases.domain import Cases
from services.cases.store import CasesStore
from services.contacts import rules as contact_rules
from services.contacts import service as contacts_service
from services.contacts.domain import Contacts
from services.contacts.store import ContactsStore

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def verifier_of(issuer: TokenIssuer) -> TokenVerifier:
    async def keys():
        return [issuer.public_key]

    return TokenVerifier(keys)


MANAGER = Caller("usr_m", "MANAGER", "acc_1", "s")
ADMIN = Caller("usr_m", "ADMIN", "acc_1", "s")
USER = Caller("usr_u", "USER", "acc_1", "s")
OTHER = Caller("usr_o", "ADMIN", "acc_2", "s")
AGENT = Caller("usr_a", "AGENT", "", "s")

SERVICES = {
    "contacts": (
        contacts_service,
        contacts_pb2_grpc.ContactsServiceStub,
        "BatchGetContacts",
        contacts_pb2.BatchGetContactsRequest,
        "contacts",
    ),
    "cases": (cases_service, cases_pb2_grpc.CasesServiceStub, "BatchGetCases", cases_pb2.BatchGetCasesRequest, "cases"),
    "billing": (
        billing_service,
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
        "email_key": f"{doc_id}@x.test",
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


def test_invoices_are_visible_to_the_whole_account_and_staff():
    own = _doc("d1", "acc_1", requester="usr_x")
    assert billing_rules.can_read(USER, own) and billing_rules.can_read(MANAGER, own)
    assert billing_rules.can_read(AGENT, own) and not billing_rules.can_read(OTHER, own)


def test_contacts_are_for_the_accounts_admin_and_staff():
    own = _doc("d1", "acc_1", requester="usr_x")
    assert contact_rules.can_read(ADMIN, own) and contact_rules.can_read(AGENT, own)
    assert not contact_rules.can_read(USER, own) and not contact_rules.can_read(MANAGER, own)
    assert not contact_rules.can_read(OTHER, own)


DOMAINS = {
    "contacts": (ContactsStore, Contacts),
    "cases": (CasesStore, Cases),
    "billing": (BillingStore, Billing),
}


@pytest.mark.parametrize("name", list(DOMAINS))
async def test_batch_get_keeps_order_and_drops_unknown_and_foreign_ids(name):
    store_class, domain_class = DOMAINS[name]
    store = store_class(connect("memory://", f"unit_domain_{name}"))
    await store.ensure_indexes()
    for doc in (_doc("a", "acc_1"), _doc("b", "acc_1"), _doc("z", "acc_2")):
        await store.aggregates[0].insert(doc)
    domain = domain_class(store)
    batch_get = getattr(domain, f"get_{store.aggregates[0].name}")

    def ids(docs):
        return [d["_id"] for d in docs]

    assert ids(await batch_get(ADMIN, ["b", "missing", "z", "a", "b"])) == ["b", "a", "b"]
    assert ids(await batch_get(OTHER, ["a", "z"])) == ["z"]
    assert ids(await batch_get(AGENT, ["z", "a", "b"])) == ["z", "a", "b"]
    assert await batch_get(ADMIN, []) == []
    with pytest.raises(InvalidInput):  # the kit's one cap, the same as the gateway loaders'
        await batch_get(ADMIN, [f"n{i}" for i in range(MAX_BATCH)] + ["a"])


async def test_a_user_gets_only_the_cases_they_opened():
    store = CasesStore(connect("memory://", "unit_domain_cases_user"))
    await store.cases.insert(_doc("mine", "acc_1", requester=USER.user_id))
    await store.cases.insert(_doc("colleague", "acc_1", requester="usr_x"))
    cases = Cases(store)
    assert [d["_id"] for d in await cases.get_cases(USER, ["colleague", "mine"])] == ["mine"]
    assert [d["_id"] for d in await cases.get_cases(MANAGER, ["colleague", "mine"])] == ["colleague", "mine"]


@pytest.mark.parametrize("name", list(SERVICES))
async def test_service_serves_health_auth_and_scoped_batch_reads(name, tmp_path):
    module, stub_class, method, request_class, field = SERVICES[name]
    issuer = TokenIssuer()
    settings_class = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
    infra = Infrastructure(connect("memory://", f"unit_{name}"), InProcessBus(), FolderMailer(str(tmp_path)))
    service = module.build(settings_for(settings_class, {"grpc_reflection": True}), infra)
    # a key source that answers without identity: this test's own issuer
    service.authenticate = verifier_of(issuer).verify
    await service.start("127.0.0.1:0")
    try:
        collection = service.store.aggregates[0]
        await collection.insert(_doc("x_own", "acc_1", requester="usr_m"))
        await collection.insert(_doc("x_other", "acc_2"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            )
            names = {s.name async for reply in listing for s in reply.list_services_response.service}
            assert f"{name}.v1.{stub_class.__name__.removesuffix('Stub')}" in names
            call = getattr(stub_class(channel), method)
            token, _ = issuer.issue(ADMIN, datetime.now(UTC), timedelta(minutes=5))
            reply = await call(
                request_class(ids=["x_other", "missing", "x_own"]),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
            assert [item.id for item in getattr(reply, field)] == ["x_own"]
            forged, _ = TokenIssuer().issue(ADMIN, datetime.now(UTC), timedelta(minutes=5))
            for metadata in ((), (("authorization", f"Bearer {forged}"),)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(request_class(ids=["x_own"]), metadata=metadata, timeout=5)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await service.stop()


async def test_a_services_jobs_run_while_it_runs_and_stop_with_it(tmp_path):
    ticks: list[int] = []

    async def job() -> None:
        while True:
            ticks.append(len(ticks))
            await asyncio.sleep(0.01)

    infra = Infrastructure(connect("memory://", "unit_jobs"), InProcessBus(), FolderMailer(str(tmp_path)))
    service = contacts_service.build(settings_for(contacts_service.ContactsSettings), infra)
    service.jobs = [job]
    await service.start("127.0.0.1:0")
    for _ in range(100):
        if len(ticks) >= 3:
            break
        await asyncio.sleep(0.01)
    await service.stop()
    stopped_at = len(ticks)
    await asyncio.sleep(0.05)
    assert stopped_at >= 3 and len(ticks) == stopped_at
