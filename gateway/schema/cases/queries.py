"""Cases' root query fields: none yet (cases, case, knowledgeSearch, article arrive with the cases service)."""

from __future__ import annotations

import strawberry


@strawberry.type
class CasesQuery:
    pass
