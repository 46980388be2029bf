"""Typed, time-ordered ids, e.g. `usr_6650f0c2a1b2c3d4e5f60718`: the prefix names the type (and so
the owning service, which is how the gateway's `node(id)` dispatches)."""

from __future__ import annotations

from bson import ObjectId


def new_id(prefix: str) -> str:
    return f"{prefix}_{ObjectId()}"
