"""gateway/schema.graphql is what the code serves, and nothing in it contradicts the contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.export_schema import SDL_PATH, current_sdl

CONTRACT_CHECK = Path(__file__).resolve().parents[2] / "shared" / "tools" / "contract_check.py"


def test_exported_sdl_is_current():
    assert SDL_PATH.read_text() == current_sdl(), "gateway/schema.graphql is stale: run `make schema`"


def test_schema_never_differs_from_the_contract():
    """Items may still be missing (the domain issues add them); none may have another type."""
    if not CONTRACT_CHECK.exists():
        import pytest

        pytest.skip(f"{CONTRACT_CHECK} not present")
    result = subprocess.run(
        [sys.executable, str(CONTRACT_CHECK), str(SDL_PATH)], capture_output=True, text=True, timeout=60
    )
    differs = [line for line in result.stdout.splitlines() if line.startswith("differs")]
    assert not differs, differs
    identity_missing = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("missing")
        and any(
            f" {t}." in line or f" type {t}:" in line
            for t in ("User", "Account", "Invitation", "Announcement", "Query", "Mutation")
        )
        and not any(
            k in line
            for k in (
                "contact",
                "Contact",
                "case",
                "Case",
                "billing",
                "Billing",
                "invoice",
                "Invoice",
                "credit",
                "payment",
                "Payment",
                "usage",
                "Usage",
                "article",
                "Article",
                "knowledge",
                "recordUsages",
                "exportUsages",
                "Autopay",
                "autopay",
            )
        )
    ]
    assert not identity_missing, identity_missing
