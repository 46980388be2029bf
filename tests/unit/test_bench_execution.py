"""The execution bench (devstack/bench_execution.py) measures what it says: full answers for each
shape, through the executor and through the whole ASGI app, one service call per service and
list level."""

from __future__ import annotations

import pytest

from devstack.bench_execution import BENCH_SHAPES, LAYERS, measure


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("shape", list(BENCH_SHAPES))
async def test_the_execution_bench_measures_full_answers_with_one_call_per_service_and_list_level(
    shape: str, layer: str
) -> None:
    median, best, calls = await measure(shape, layer, operations=2, rounds=2, settle=lambda: None)
    assert 0 < best <= median
    # a page: the list, then its references in one batch, and its comment pages in one more
    assert calls == (1.0 if shape == "get" else 3.0 if "comment" in shape else 2.0)
