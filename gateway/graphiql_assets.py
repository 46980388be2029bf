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
# The page loads react and react-dom (UMD) and graphiql (UMD, with the graphql-ws client bundled).
ALLOWED_PACKAGES = ("react/", "react-dom/", "graphiql/")
ALLOWED_SUFFIXES = (".js", ".css", ".map")


class _PackageFiles(StaticFiles):
    """Only the built files of the few packages the page loads are reachable."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = self.get_path(scope)  # normalised: no "..", no "."
            if not path.startswith(ALLOWED_PACKAGES) or not path.endswith(ALLOWED_SUFFIXES):
                raise HTTPException(404)
            if not ASSETS_DIR.is_dir():
                raise HTTPException(404, "GraphiQL assets are not installed: run scripts/install_graphiql.sh")
        await super().__call__(scope, receive, send)


def graphiql_routes() -> list[BaseRoute]:
    return [Mount("/graphiql-assets", app=_PackageFiles(directory=ASSETS_DIR, check_dir=False), name="graphiql-assets")]


@cache
def graphiql_page() -> str:
    return INDEX_HTML.read_text(encoding="utf-8")


def assets_installed() -> bool:
    return INDEX_HTML.is_file() and (ASSETS_DIR / "graphiql" / "graphiql.min.js").is_file()
