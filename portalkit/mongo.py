"""MongoDB access: one database per service, each command traced.

`memory://` gives an in-process mongomock-motor database (embedded run and tests); any other URI is
a real server through motor. Services reach Mongo only through `TracedCollection`, which records a
client span per command. The pymongo instrumentation is not used: it sees nothing under mongomock,
and on a real server it would duplicate these spans.

Only features that behave the same on a real server are used: single-document atomic updates,
unique indexes, find/sort/limit, count_documents. No multi-document transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pymongo import ReturnDocument

Document = dict[str, Any]
_tracer = trace.get_tracer("portalkit.mongo")


def connect(uri: str, database: str) -> Any:
    """An async database handle for `uri` (`memory://` = in process)."""
    if uri.startswith("memory://"):
        from mongomock_motor import AsyncMongoMockClient

        return AsyncMongoMockClient(tz_aware=True)[database]
    from motor.motor_asyncio import AsyncIOMotorClient

    client: Any = AsyncIOMotorClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    return client.get_default_database(database)


class TracedCollection:
    """The collection operations the services use, each inside a `mongodb` client span."""

    def __init__(self, db: Any, name: str) -> None:
        self._collection = db[name]
        self.name = name
        self._db_name = db.name

    def _span(self, operation: str) -> Any:
        return _tracer.start_as_current_span(
            f"mongodb.{operation} {self.name}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system": "mongodb",
                "db.name": self._db_name,
                "db.operation": operation,
                "db.mongodb.collection": self.name,
            },
        )

    async def find_one(self, filter: Mapping[str, Any], projection: Any = None) -> Document | None:
        with self._span("find"):
            return await self._collection.find_one(filter, projection)

    async def find_many(
        self,
        filter: Mapping[str, Any],
        *,
        sort: Sequence[tuple[str, int]] | None = None,
        limit: int = 0,
        projection: Any = None,
    ) -> list[Document]:
        with self._span("find"):
            cursor = self._collection.find(filter, projection)
            if sort:
                cursor = cursor.sort(list(sort))
            if limit:
                cursor = cursor.limit(limit)
            return list(await cursor.to_list(length=limit or None))

    async def count(self, filter: Mapping[str, Any]) -> int:
        with self._span("count"):
            return int(await self._collection.count_documents(filter))

    async def insert_one(self, document: Document) -> None:
        with self._span("insert"):
            await self._collection.insert_one(document)

    async def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False) -> int:
        """Returns the number of documents matched (0 or 1)."""
        with self._span("update"):
            result = await self._collection.update_one(filter, update, upsert=upsert)
            return int(result.matched_count) + (1 if result.upserted_id is not None else 0)

    async def update_many(self, filter: Mapping[str, Any], update: Mapping[str, Any]) -> int:
        with self._span("update"):
            result = await self._collection.update_many(filter, update)
            return int(result.matched_count)

    async def find_one_and_update(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False
    ) -> Document | None:
        """Atomically update one document and return it as it is after the update."""
        with self._span("findAndModify"):
            return await self._collection.find_one_and_update(
                filter, update, upsert=upsert, return_document=ReturnDocument.AFTER
            )

    async def delete_one(self, filter: Mapping[str, Any]) -> int:
        with self._span("delete"):
            result = await self._collection.delete_one(filter)
            return int(result.deleted_count)

    async def ensure_index(self, keys: Sequence[tuple[str, int]], **options: Any) -> None:
        await self._collection.create_index(list(keys), **options)
