"""The gateway's domain kit: enums from the protos, service cursors, capped loaders, the node registry,
schema assembly from the domain packages, and packages that import in any order."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from graphql import GraphQLEnumType, build_schema
from hypothesis import given
from hypothesis import strategies as st

from gateway.schema import root
from gateway.schema.billing.enums import ExportStatus
from gateway.schema.common import ProtoEnum, by_id, connection, dt, proto_enum, to_pb
from gateway.schema.identity.enums import Role, SupportTeam
from portalkit.batch import MAX_BATCH
from protos.billing.v1 import billing_pb2
from protos.identity.v1 import identity_pb2

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract" / "schema.graphql"
REPO = Path(__file__).resolve().parents[2]
DOMAINS = ("identity", "contacts", "cases", "billing")


def _schema_enums() -> dict[str, GraphQLEnumType]:
    types = root.schema._schema.type_map.items()
    return {n: t for n, t in types if isinstance(t, GraphQLEnumType) and not n.startswith("__")}


def test_every_enum_of_the_graph_comes_from_a_proto():
    for name, graphql_enum in _schema_enums().items():
        python_enum = root.schema.get_type_by_name(name).wrapped_cls
        assert issubclass(python_enum, ProtoEnum), name
        proto_names = [v.name for v in python_enum._proto.DESCRIPTOR.values[1:]]
        assert [m.value for m in python_enum] == proto_names, name
        assert list(graphql_enum.values) == [m.name for m in python_enum], name


@pytest.mark.skipif(not CONTRACT.exists(), reason="contract not present")
def test_enum_values_are_in_the_contracts_order():
    contract = build_schema(CONTRACT.read_text()).type_map
    for name, graphql_enum in _schema_enums().items():
        assert list(graphql_enum.values) == list(contract[name].values), name


def test_enums_convert_both_ways_through_the_proto_names():
    assert Role.from_pb(identity_pb2.ADMIN) is Role["ADMIN"]
    assert Role["SUPPORT_ADMIN"].to_pb() == identity_pb2.SUPPORT_ADMIN
    assert SupportTeam.from_pb(identity_pb2.TIER2).name == "TIER2"
    assert to_pb(None) == 0 and to_pb(Role["USER"]) == identity_pb2.USER
    # package scope forces a prefix in the proto; the graph has the contract's name
    assert [m.name for m in ExportStatus] == ["PENDING", "READY", "FAILED"]
    assert ExportStatus["READY"].to_pb() == billing_pb2.EXPORT_STATUS_READY
    assert ExportStatus.from_pb(billing_pb2.EXPORT_STATUS_FAILED) is ExportStatus["FAILED"]


def test_an_enum_must_be_named_as_its_proto_enum():
    with pytest.raises(TypeError, match="UserStatus"):

        @proto_enum(identity_pb2.UserStatus)
        class Status(ProtoEnum):
            pass


def _page(cursors: list[str], next_page_token: str = "", total: int = 0) -> Any:
    return SimpleNamespace(cursors=cursors, next_page_token=next_page_token, total_count=total)


def test_connection_cursors_are_the_services_own():
    page = connection(_page(["c1", "c2"], "more", 7), ["a", "b"], str.upper)
    assert [(e.node, e.cursor) for e in page.edges] == [("A", "c1"), ("B", "c2")]
    assert (page.page_info.end_cursor, page.page_info.has_next_page, page.total_count) == ("c2", True, 7)
    empty = connection(_page([], ""), [], str.upper)
    assert (empty.edges, empty.page_info.end_cursor, empty.page_info.has_next_page) == ([], None, False)
    with pytest.raises(ValueError):  # a service that forgot its cursors is a bug, not a page
        _ = connection(_page(["c1"]), ["a", "b"], str.upper).edges


def test_a_connection_converts_its_items_when_its_edges_are_read():
    converted: list[str] = []

    def convert(item: str) -> str:
        converted.append(item)
        return item

    page = connection(_page(["c1", "c2"], "", 9), ["a", "b"], convert)
    assert page.total_count == 9 and not page.page_info.has_next_page and converted == []  # a count converts none
    assert [e.node for e in page.edges] == ["a", "b"] and page.edges is page.edges and converted == ["a", "b"]


async def test_loaders_never_send_more_ids_than_the_batch_cap():
    calls: list[list[str]] = []

    async def fetch(ctx: Any, ids: list[str]) -> list[Any]:
        calls.append(ids)
        return [SimpleNamespace(id=i) for i in reversed(ids) if not i.endswith("7")]

    loader = by_id(fetch)(None)
    ids = [f"usr_{n}" for n in range(2 * MAX_BATCH + 50)]
    found = await loader.load_many(ids)
    assert [len(c) for c in calls] == [MAX_BATCH, MAX_BATCH, 50]
    assert [f.id if f else None for f in found] == [None if i.endswith("7") else i for i in ids]


def test_node_registry_takes_each_prefix_once():
    async def resolve(info: Any, node_id: str) -> None:
        return None

    a = SimpleNamespace(NODES={"con_": resolve})
    assert root.node_registry([a]) == {"con_": resolve}
    with pytest.raises(ValueError, match="con_"):
        root.node_registry([a, SimpleNamespace(NODES={"con_": resolve})])
    for bad in ("con", "con_x_"):
        with pytest.raises(ValueError):
            root.node_registry([SimpleNamespace(NODES={bad: resolve})])
    assert {"usr_", "acc_", "ann_"} <= set(root.NODES)


async def test_node_dispatches_on_the_id_prefix(monkeypatch: pytest.MonkeyPatch):
    seen: list[str] = []

    async def resolve(info: Any, node_id: str) -> Any:
        seen.append(node_id)
        return "found"

    monkeypatch.setattr(root, "NODES", {"con_": resolve})
    assert await root.resolve_node(None, "con_123") == "found"
    assert await root.resolve_node(None, "usr_123") is None
    assert await root.resolve_node(None, "con") is None
    assert seen == ["con_123"]


def test_root_types_are_the_domains_mixins_merged_in_order():
    fields = root.schema._schema.query_type.fields
    assert next(iter(fields)) == "node"
    names = [f.name for d in root.DOMAINS for f in d.Query.__strawberry_definition__.fields]
    assert [n for n in fields if n != "node"] == [
        root.schema.config.name_converter.apply_naming_config(n) for n in names
    ]
    subscription = root.schema._schema.subscription_type
    assert subscription is not None and "announcementPublished" in subscription.fields


FIRST_IMPORTS = [f"gateway.schema.{d}{m}" for d in DOMAINS for m in ("", ".types", ".enums")]
# One interpreter for all of them: before each, every gateway.schema module is forgotten, so each
# one is imported first (a cycle would fail exactly as in a fresh process), without paying for
# a fresh interpreter per module.
FIRST_IMPORT_SCRIPT = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.startswith("gateway.schema")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
        importlib.import_module("gateway.schema.root")
    except Exception as exc:
        print(f"{name}: {exc!r}")
"""


def test_each_domain_module_imports_first_without_cycles():
    result = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORT_SCRIPT, *FIRST_IMPORTS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


# every second a datetime can hold (years 1 to 9999), and every nanosecond
@given(st.integers(-62_135_596_800, 253_402_300_799), st.integers(0, 999_999_999))
def test_timestamps_convert_as_protobuf_converts_them(seconds: int, nanos: int) -> None:
    stamp = Timestamp(seconds=seconds, nanos=nanos)
    assert dt(stamp) == stamp.ToDatetime(tzinfo=UTC)
    assert dt(stamp).tzinfo is UTC


@pytest.mark.parametrize(("seconds", "nanos"), [(0, -1), (0, 1_000_000_000), (10**12, 0), (-(10**12), 0)])
def test_a_timestamp_out_of_range_is_reported_as_protobuf_reports_it(seconds: int, nanos: int) -> None:
    with pytest.raises(ValueError, match="Timestamp is not valid"):
        dt(Timestamp(seconds=seconds, nanos=nanos))
