"""gateway/schema.graphql is what the code serves, and nothing in it contradicts the contract.

The project carries its copy of the contract in contract/, so this runs wherever the project does;
when the shared folder is beside the project, the copy must equal it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.export_schema import SDL_PATH, current_sdl
from tests.support.contract import compare

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contract"
SHARED = ROOT.parent / "shared"
SHARED_CONTRACT = SHARED / "contract"
SHARED_CHECK = SHARED / "tools" / "contract_check.py"


def test_exported_sdl_is_current():
    assert SDL_PATH.read_text() == current_sdl(), "gateway/schema.graphql is stale: run `make schema`"


@pytest.mark.skipif(not SHARED_CONTRACT.is_dir(), reason=f"{SHARED_CONTRACT} is not beside the project")
def test_the_projects_contract_is_the_shared_one():
    shared = sorted(p.name for p in SHARED_CONTRACT.iterdir() if p.is_file())
    assert shared, f"{SHARED_CONTRACT} is empty"
    for name in shared:
        copy = CONTRACT / name
        assert copy.is_file() and copy.read_bytes() == (SHARED_CONTRACT / name).read_bytes(), (
            f"contract/{name} differs from {SHARED_CONTRACT / name}: the contract moved, copy it over"
        )


@pytest.mark.skipif(not SHARED_CHECK.is_file(), reason=f"{SHARED_CHECK} is not beside the project")
def test_the_comparison_agrees_with_the_shared_tool():
    result = subprocess.run(
        [sys.executable, str(SHARED_CHECK), str(SDL_PATH), str(CONTRACT / "schema.graphql")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    tool_lines = [line for line in result.stdout.splitlines() if line.startswith(("missing", "differs"))]
    assert tool_lines == compare(SDL_PATH.read_text(), (CONTRACT / "schema.graphql").read_text())


def test_schema_never_differs_from_the_contract():
    """Items may still be missing (the domain issues add them); none may have another type."""
    lines = compare(SDL_PATH.read_text(), (CONTRACT / "schema.graphql").read_text())
    differs = [line for line in lines if line.startswith("differs")]
    assert not differs, differs
    identity_missing = [
        line
        for line in lines
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
