"""`fastapi-scaffold check` on a generated 100,000-line service: lines read per second, cold
(no parse cached). The bar is 20,000 lines/s, a 100,000-line service in under 5 s.

The service is synthetic but shaped like a real one: packages of route modules, each calling
helpers in other modules, methods of the project's own classes, a sync Session through an
`Annotated` dependency alias, offloaded and inline blocking calls; call chains cross modules,
so the walk from each root is exercised, not only parsing.

Run alone: `python -m bench.check_speed [LINES]`.
"""

import sys
import tempfile
import time
from pathlib import Path

from fastapi_scaffold.check import check
from fastapi_scaffold.check.parsing import clear_parse_cache

TARGET_LINES = 100_000
MIN_LINES_PER_S = 20_000

COMMON = '''"""Shared helpers of package {pkg}."""

import time
from collections.abc import Iterator
from typing import Annotated

import anyio.to_thread
import requests
from fastapi import Depends
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

engine = create_engine("postgresql://localhost/db")


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def run_sync(func, *args):
    return await anyio.to_thread.run_sync(func, *args)


def slow(n: int) -> int:
    time.sleep(0.01)
    return n


def fetch(url: str) -> int:
    return requests.get(url, timeout=5).status_code
'''

MODULE_HEAD = '''"""Routes {pkg}.{name}."""

from fastapi import APIRouter

from .common import SessionDep, fetch, run_sync, slow
{imports}

router = APIRouter(prefix="/{name}")
'''

BLOCK = """

class Repo{i}:
    def __init__(self, base: str) -> None:
        self.base = base

    def load(self, n: int) -> int:
        total = 0
        for k in range(n):
            total += self._step(k)
        return total

    def _step(self, k: int) -> int:
        if k % 7 == 0:
            return slow(k)
        return k * 2


def helper_{i}(n: int) -> int:
    values = [v * 3 for v in range(n) if v % 2]
    return sum(values) + {other}(n)


def pure_{i}(n: int) -> int:
    return n + {i}


@router.get("/items{i}/{{item_id}}")
async def get_item_{i}(item_id: int, session: SessionDep) -> dict[str, int]:
    repo = Repo{i}("https://example.com")
    count = await run_sync(repo.load, item_id)
    rows = session.execute("SELECT {i}")
    return {{"count": count, "rows": len(rows), "extra": pure_{i}(item_id)}}


@router.post("/items{i}")
async def post_item_{i}(item_id: int) -> dict[str, int]:
    status = await run_sync(fetch, "https://example.com/{i}")
    return {{"status": status, "value": helper_{i}(item_id)}}


@router.get("/ok{i}")
def ok_{i}(item_id: int) -> int:
    return fetch("https://example.com/{i}") + helper_{i}(item_id)
"""


def write_project(root: Path, lines: int = TARGET_LINES) -> int:
    """Write a synthetic service of about `lines` lines under `root`; return its line count."""
    package_count = max(1, lines // 10_000)
    blocks_per_module = 8
    block_lines = BLOCK.count("\n")
    written = 0
    package = 0
    module = 0
    while written < lines:
        pkg = f"pkg{package % package_count}"
        directory = root / "svc" / pkg
        if not directory.exists():
            directory.mkdir(parents=True)
            (directory / "__init__.py").write_text("")
            (directory / "common.py").write_text(COMMON.format(pkg=pkg))
            written += COMMON.count("\n")
        name = f"routes{module}"
        previous = f"routes{module - 1}" if module % 50 else None
        imports = f"from .{previous} import helper_0 as other_helper" if previous else ""
        parts = [MODULE_HEAD.format(pkg=pkg, name=name, imports=imports)]
        for i in range(blocks_per_module):
            other = "other_helper" if previous and i == 0 else f"pure_{i}"
            parts.append(BLOCK.format(i=i, other=other))
        (directory / f"{name}.py").write_text("".join(parts))
        written += MODULE_HEAD.count("\n") + blocks_per_module * block_lines
        module += 1
        package += 1 if module % 50 == 0 else 0
    (root / "svc" / "__init__.py").write_text("")
    main = ["from fastapi import FastAPI", "", "app = FastAPI()"]
    (root / "svc" / "main.py").write_text("\n".join(main) + "\n")
    return written


def measure(lines: int = TARGET_LINES) -> float:
    """Lines per second of `check` on a fresh synthetic service of `lines` lines, cold."""
    with tempfile.TemporaryDirectory(prefix="check-speed-") as directory:
        root = Path(directory)
        write_project(root, lines)
        clear_parse_cache()  # cold: every file parsed, as on a first run
        started = time.perf_counter()
        report = check(root)
        elapsed = time.perf_counter() - started
        assert report.findings, "the synthetic service plants blocking calls: none found"
        return report.lines / elapsed


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else TARGET_LINES
    rate = measure(lines)
    verdict = "pass" if rate >= MIN_LINES_PER_S else "FAIL"
    print(f"check: {rate:,.0f} lines/s on a {lines:,}-line service ({verdict}, bar 20,000)")


if __name__ == "__main__":
    main()
