"""GraphiQL served by us: the page and its scripts, installed from the npm registry by
scripts/install_graphiql.sh into gateway/graphiql/node_modules (never a CDN, never committed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

GRAPHIQL_DIR = Path(__file__).with_name("graphiql")
ASSETS_DIR = GRAPHIQL_DIR / "node_modules"
INDEX_HTML = GRAPHIQL_DIR / "index.html"
ALLOWED_PACKAGES = ("react/", "react-dom/", "graphiql/", "graphql-ws/")
ALLOWED_SUFFIXES = (".js", ".css", ".map")


class _PackageFiles(StaticFiles):
    """Only the built files of the few packages the page loads are reachable."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self.get_path(scope)
        if not path.startswith(ALLOWED_PACKAGES) or not path.endswith(ALLOWED_SUFFIXES):
            raise HTTPException(404)
        await super().__call__(scope, receive, send)


def graphiql_routes() -> list[BaseRoute]:
    return [Mount("/graphiql-assets", app=_PackageFiles(directory=ASSETS_DIR, check_dir=False), name="graphiql-assets")]


@cache
def graphiql_page() -> str:
    return INDEX_HTML.read_text()


def assets_installed() -> bool:
    return INDEX_HTML.exists() and (ASSETS_DIR / "graphiql").is_dir()
