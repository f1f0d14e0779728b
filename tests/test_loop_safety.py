"""Every generated project proves it never blocks its event loop: put a blocking call into one
of its `async def` handlers, in each handler style, and the project's own test suite fails."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from tests.projects import copy_template, run_project_tests

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Mutation:
    """A careless edit to a generated project: `old` becomes `new` in `path`."""

    name: str
    answers: dict[str, str]
    path: str
    old: str
    new: str
    tests: str
    caught_by_ruff: bool


MUTATIONS = [
    Mutation(
        "sync style: time.sleep in an async def handler",
        {"database": "psycopg2", "http_client": "requests"},
        "routes/health.py",
        '    return {"status": "ok"}',
        '    time.sleep(0.01)\n    return {"status": "ok"}',
        "tests/test_health.py",
        caught_by_ruff=True,
    ),
    Mutation(
        "async style: time.sleep in an async def handler",
        {"database": "asyncpg", "http_client": "httpx"},
        "routes/items.py",
        "    item = await db.get_item(conn, item_id)",
        "    time.sleep(0.01)\n    item = await db.get_item(conn, item_id)",
        "tests/test_items.py",
        caught_by_ruff=True,
    ),
    Mutation(
        "mixed style: psycopg2 called inline instead of offloaded",
        {"database": "psycopg2", "http_client": "httpx"},
        "routes/items.py",
        "    item = await run_sync(db.get_item, pool, item_id)",
        "    item = db.get_item(pool, item_id)",
        "tests/test_items.py",
        caught_by_ruff=False,
    ),
    Mutation(
        "sync style, SQLAlchemy: a def handler using a Session made async def",
        {"database": "psycopg2", "orm": "sqlalchemy", "http_client": "requests"},
        "routes/items.py",
        "def get_item(item_id: ItemId, database: Db) -> Item:",
        "async def get_item(item_id: ItemId, database: Db) -> Item:",
        "tests/test_items.py",
        caught_by_ruff=False,
    ),
    Mutation(
        "mixed style, SQLAlchemy: a sync Session used inline instead of offloaded",
        {"database": "psycopg2", "orm": "sqlalchemy", "http_client": "httpx"},
        "routes/items.py",
        "    item = await run_sync(db.get_item, database, item_id)",
        "    item = db.get_item(database, item_id)",
        "tests/test_items.py",
        caught_by_ruff=False,
    ),
    Mutation(
        "mixed style: requests called inline instead of offloaded",
        {"database": "asyncpg", "http_client": "requests"},
        "routes/upstream.py",
        "    return await run_sync(upstream.fetch_item, item_id)",
        "    return upstream.fetch_item(item_id)",
        "tests/test_upstream.py",
        caught_by_ruff=False,
    ),
    Mutation(
        "celery: a job published with .delay() in an async def handler",
        {"database": "none", "http_client": "none", "cpu_work": "celery"},
        "routes/compute.py",
        "    result = await queue.run(isqrt_sum.si(n), timeout=settings.compute_timeout_s)",
        "    isqrt_sum.delay(n)\n"
        "    result = await queue.run(isqrt_sum.si(n), timeout=settings.compute_timeout_s)",
        "tests/test_jobs.py::test_compute_returns_the_sum",
        caught_by_ruff=False,
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_a_blocking_call_on_the_loop_fails_the_projects_suite(
    mutation: Mutation, copie: Copie, request: pytest.FixtureRequest
) -> None:
    answers = {"package_name": "svc", "cpu_work": "none", **mutation.answers}
    project = copy_template(copie, answers)
    module = project / "svc" / mutation.path
    source = module.read_text()
    assert mutation.old in source, f"the template changed: update this test's {mutation.name!r}"
    source = source.replace(mutation.old, mutation.new)
    if "time.sleep" in mutation.new:
        source = "import time\n" + source
    module.write_text(source)

    database_url = None
    if answers["database"] != "none":
        database_url = request.getfixturevalue("database_url")
    # -x: the first test the mutation fails is proof enough; the rest would only repeat it.
    result = run_project_tests(project, database_url, "-x", mutation.tests)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "BlockingError: Blocking call to" in result.stdout

    ruff = subprocess.run(
        [str(BIN / "ruff"), "check", "--select", "ASYNC", str(module)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ruff.returncode != 0) == mutation.caught_by_ruff, ruff.stdout
