"""`check --fix` on a copy of the check fixture: every finding it applies to (a blocking
`async def` route or dependency that awaits nothing) disappears, the other findings and every
other byte stay, `--diff` shows the same change without writing it, and the fixed project still
imports and serves its fixed routes over a real socket. Then each reason to leave a function
alone, one function each."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from typer.testing import CliRunner

from fastapi_scaffold.check import Report, check
from fastapi_scaffold.check.fix import fixes
from fastapi_scaffold.cli import app
from tests.template_helpers import postgres
from tests.test_check import SHOP

runner = CliRunner()

# The roots `--fix` makes `def`, by file and function: every `async def` route or dependency of
# the fixture whose finding says "make it a plain `def`".
MADE_DEF = {
    "shop/cache.py": ["current_user"],
    "shop/routes/items.py": [
        "audit",
        "direct",
        "helper",
        "report",
        "get_rates",
        "stock",
        "stock_dep",
        "orders",
        "create_order",
        "start_reindex",
        "export",
        "pg",
        "containers",
        "legacy_ping",
    ],
}
# Findings that also say "make it `def`", left alone: exception handlers are not changed.
REFUSED = {
    "shop/main.py:48 on_value_error (exception handler main.on_value_error): it is an "
    "exception handler: `--fix` changes only routes and dependencies",
    "shop/main.py:54 on_key_error (exception handler main.on_key_error): it is an "
    "exception handler: `--fix` changes only routes and dependencies",
}


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def findings(report: Report) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(f.root.label, f.code, tuple(map(str, f.chain))) for f in report.findings}


def made_def(before: bytes, names: list[str]) -> bytes:
    """`before` with exactly `async def NAME(` made `def NAME(` for each name."""
    text = before.decode()
    for name in names:
        assert text.count(f"async def {name}(") == 1, name
        text = text.replace(f"async def {name}(", f"def {name}(")
    return text.encode()


def test_fix_removes_exactly_the_findings_it_applies_to(tmp_path: Path) -> None:
    shop = Path(shutil.copytree(SHOP, tmp_path / "shop"))
    before_files = snapshot(shop)
    before = check(shop)
    result = runner.invoke(app, ["check", str(shop), "--fix"])
    assert result.exit_code == 1, result.output  # the findings it leaves
    fixed_lines = [line for line in result.stderr.splitlines() if line.startswith("fixed: ")]
    assert len(fixed_lines) == sum(len(names) for names in MADE_DEF.values())
    assert {
        line.removeprefix("not fixed: ")
        for line in result.stderr.splitlines()
        if line.startswith("not fixed: ")
    } == REFUSED
    fixed_roots = {line.split(" (", 1)[1].split("): ")[0] for line in fixed_lines}
    applies = {
        f.root.label
        for f in before.findings
        if f.fix.startswith("make") and f.root.kind in {"route", "dependency"}
    }
    assert fixed_roots == applies
    after = check(shop)
    gone = {f for f in findings(before) if f[0] in fixed_roots}
    assert findings(after) == findings(before) - gone
    after_files = snapshot(shop)
    assert after_files.keys() == before_files.keys()
    for name, content in before_files.items():
        expected = made_def(content, MADE_DEF[name]) if name in MADE_DEF else content
        assert after_files[name] == expected, name
    again = runner.invoke(app, ["check", str(shop), "--fix"])
    assert not [line for line in again.stderr.splitlines() if line.startswith("fixed: ")]
    assert snapshot(shop) == after_files


def test_diff_shows_the_fix_and_writes_nothing(tmp_path: Path) -> None:
    shop = Path(shutil.copytree(SHOP, tmp_path / "shop"))
    before_files = snapshot(shop)
    result = runner.invoke(app, ["check", str(shop), "--diff"])
    assert result.exit_code == 1, result.output
    assert snapshot(shop) == before_files
    assert result.stdout.startswith("--- a/shop/cache.py\n+++ b/shop/cache.py\n")
    removed = [line for line in result.stdout.splitlines() if line.startswith("-async def ")]
    added = [line for line in result.stdout.splitlines() if line.startswith("+def ")]
    assert len(removed) == len(added) == sum(len(names) for names in MADE_DEF.values())
    applied = subprocess.run(
        ["git", "apply", "--verbose", "-"],
        input=result.stdout,
        cwd=shop,
        capture_output=True,
        text=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    fixed = Path(shutil.copytree(SHOP, tmp_path / "fixed"))
    runner.invoke(app, ["check", str(fixed), "--fix"])
    assert snapshot(shop) == snapshot(fixed)  # the diff is what --fix writes


# Serves the fixed fixture. Two things of the fixture's need what this machine lacks, and are
# left out, not faked: lifespan connects to a PostgreSQL at localhost:5432 (uvicorn runs with
# --lifespan off), and the router's `audit` dependency calls https://audit.example (overridden
# by FastAPI's own dependency_overrides).
SERVE = """\
from shop.main import app
from shop.routes import items

app.dependency_overrides[items.audit] = lambda: None
"""


def get_json(url: str) -> tuple[int, object]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, json.load(response)


@contextlib.contextmanager
def serving(project: Path, wrapper: Path) -> Iterator[str]:
    port = postgres.free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(wrapper)])}
    command = [sys.executable, "-m", "uvicorn", "serve_fixed:app", "--lifespan", "off"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, "uvicorn exited at start-up"
                with contextlib.suppress(OSError):
                    get_json(f"{base}/openapi.json")
                    break
                assert time.monotonic() < deadline, "the fixed fixture did not start serving"
                time.sleep(0.2)
            yield base
        except BaseException as error:
            log.seek(0)
            error.add_note(f"uvicorn's log:\n{log.read()}")
            raise
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        log.seek(0)
        assert "Traceback" not in log.read()


def test_the_fixed_fixture_imports_and_serves_its_fixed_routes(tmp_path: Path) -> None:
    shop = Path(shutil.copytree(SHOP, tmp_path / "shop"))
    assert runner.invoke(app, ["check", str(shop), "--fix"]).exit_code == 1
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    (wrapper / "serve_fixed.py").write_text(SERVE)
    with serving(shop, wrapper) as base:
        assert get_json(f"{base}/v1/items/helper") == (200, 1)  # was `async def`, now `def`
        assert get_json(f"{base}/v1/items/direct") == (200, None)


# One function per reason to leave it alone; `plain` is the only one made `def`. Each calls
# `time.sleep`, so each is a finding whose fix says "make it `def`".
REASONS = """\
import asyncio
import contextvars
import functools
import sqlite3
import time

from fastapi import Depends, FastAPI

app = FastAPI()
request_id = contextvars.ContextVar("request_id")
connection = sqlite3.connect(":memory:", check_same_thread=True)


def cached(function):
    @functools.wraps(function)
    async def wrapper(*args, **kwargs):
        return await function(*args, **kwargs)

    return wrapper


async def plain_dependency() -> int:
    time.sleep(0.1)
    return 1


@app.get("/plain")
async def plain(value: int = Depends(plain_dependency)) -> int:
    time.sleep(0.1)
    return value


@app.get("/decorated")
@cached
async def decorated() -> None:
    time.sleep(0.1)


@app.get("/called")
async def called() -> None:
    time.sleep(0.1)


async def calls_it() -> None:
    await called()


@app.get("/loop")
async def loop() -> None:
    time.sleep(0.1)
    asyncio.get_running_loop()


@app.get("/context")
async def context() -> None:
    time.sleep(0.1)
    request_id.set("x")


@app.get("/sqlite")
async def shared_sqlite() -> None:
    time.sleep(0.1)
    connection.execute("SELECT 1")


@app.get("/generator")
async def generator():
    time.sleep(0.1)
    yield 1


@app.get("/handler")
async def also_handler() -> None:
    time.sleep(0.1)


app.add_exception_handler(KeyError, also_handler)
"""


def test_each_reason_to_leave_a_function_alone(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(REASONS)
    found = fixes(tmp_path)
    assert found.made_def == [
        "main.py:22 plain_dependency (dependency plain_dependency)",
        "main.py:28 plain (GET /plain)",
    ]
    reasons = {line.split(" ", 2)[1]: line.split("): ", 1)[1] for line in found.refused}
    assert reasons == {
        "decorated": "its decorator `@cached` may need a coroutine function",
        "called": "the code refers to it at main.py:45 (`called`), where a coroutine may be "
        "expected",
        "loop": "it calls `asyncio.get_running_loop`, which needs the event loop's thread "
        "(line 51)",
        "context": "it sets a context variable, which a worker thread would not pass back "
        "(line 57)",
        "shared_sqlite": "it uses sqlite3, whose objects belong to the thread that made them",
        "generator": "it is a generator",
        "also_handler": "it is an exception handler: `--fix` changes only routes and dependencies",
    }
    assert found.diff().count("\n-async def ") == 2
