"""Cases' mutations: none yet (createCase … arrive with the cases service)."""

from __future__ import annotations

import strawberry


@strawberry.type
class CasesMutation:
    pass
