"""GraphiQL served by us: the page and its scripts, installed from the npm registry by
scripts/install_graphiql.sh into gateway/graphiql/node_modules (never a CDN, never committed)."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

GRAPHIQL_DIR = Path(__file__).with_name("graphiql")
ASSETS_DIR = GRAPHIQL_DIR / "node_modules"
INDEX_HTML = GRAPHIQL_DIR / "index.html"
LOCK_FILE = GRAPHIQL_DIR / "package-lock.json"  # pins every installed file (npm integrity hashes)
ASSETS_PREFIX = "/graphiql-assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
# The page loads react and react-dom (UMD) and graphiql (UMD, with the graphql-ws client bundled).
ALLOWED_PACKAGES = ("react/", "react-dom/", "graphiql/")
ALLOWED_SUFFIXES = (".js", ".css", ".map")


class _PackageFiles(StaticFiles):
    """Only the built files of the few packages the page loads are reachable. Under the
    content-hashed prefix (what the page links to) they are cached for a year as immutable."""

    def __init__(self, *, immutable: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.cache_control = IMMUTABLE if immutable else "no-cache"

    def file_response(
        self, full_path: object, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)  # type: ignore[arg-type]
        response.headers["cache-control"] = self.cache_control
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = self.get_path(scope)  # normalised: no "..", no "."
            if not path.startswith(ALLOWED_PACKAGES) or not path.endswith(ALLOWED_SUFFIXES):
                raise HTTPException(404)
            if not ASSETS_DIR.is_dir():
                raise HTTPException(404, "GraphiQL assets are not installed: run scripts/install_graphiql.sh")
        await super().__call__(scope, receive, send)


@cache
def assets_hash() -> str:
    """The content hash in the assets' URLs: the lock file fixes every byte installed."""
    content = LOCK_FILE.read_bytes() if LOCK_FILE.is_file() else b""
    return hashlib.sha256(content).hexdigest()[:16]


def graphiql_routes() -> list[BaseRoute]:
    hashed = f"{ASSETS_PREFIX}{assets_hash()}"
    return [
        Mount(hashed, app=_PackageFiles(immutable=True, directory=ASSETS_DIR, check_dir=False)),
        Mount("/graphiql-assets", app=_PackageFiles(directory=ASSETS_DIR, check_dir=False), name="graphiql-assets"),
    ]


@cache
def graphiql_page() -> str:
    """index.html with its asset links under the content-hashed prefix."""
    return INDEX_HTML.read_text(encoding="utf-8").replace(ASSETS_PREFIX, f"{ASSETS_PREFIX}{assets_hash()}/")


def assets_installed() -> bool:
    return INDEX_HTML.is_file() and (ASSETS_DIR / "graphiql" / "graphiql.min.js").is_file()
