"""Values hypothesis-graphql gives the portal's custom scalars when it writes documents from the
schema (the fuzz of the running gateway and the executor's differential test)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st
from hypothesis_graphql import nodes

SCALARS = {
    "DateTime": st.datetimes(
        timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)
    ).map(lambda d: nodes.String(d.isoformat())),
    "Date": st.dates().map(nodes.String),
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9).map(
        nodes.String
    ),
}
