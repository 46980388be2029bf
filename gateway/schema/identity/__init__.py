"""Identity in the graph: accounts, users, sessions, invitations, announcements."""

from __future__ import annotations

from gateway.schema.common import NodeResolver
from gateway.schema.identity.mutations import IdentityMutation as Mutation
from gateway.schema.identity.queries import IdentityQuery as Query
from gateway.schema.identity.subscriptions import IdentitySubscription as Subscription
from gateway.schema.identity.types import REFERENCES, load_account, load_announcement, load_user

NODES: dict[str, NodeResolver] = {"usr_": load_user, "acc_": load_account, "ann_": load_announcement}
TYPES: list[type] = []  # every identity type is reached from a root field

__all__ = ["NODES", "REFERENCES", "TYPES", "Mutation", "Query", "Subscription"]
