"""`python -m gateway.export_schema [--check]`: write (or check) gateway/schema.graphql from the code."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.schema.root import schema

SDL_PATH = Path(__file__).with_name("schema.graphql")


def current_sdl() -> str:
    return schema.as_str() + "\n"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if not SDL_PATH.exists() or SDL_PATH.read_text() != current_sdl():
            print(f"{SDL_PATH} is stale: run `make schema`", file=sys.stderr)
            return 1
        return 0
    SDL_PATH.write_text(current_sdl())
    print(f"wrote {SDL_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
