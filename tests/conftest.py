"""Shared by the generator's tests: one PostgreSQL server for the whole
run (started by the xdist controller, reached by every worker through an environment variable),
a database per test that asks for one, and `--variant ID`, which runs one variant's checks as
its CI matrix job does."""

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest
from pytest_redis.executor import RedisExecutor

from fastapi_scaffold.compiled import compiled_templates
from fastapi_scaffold.git_modes import file_mode_asked_once
from tests.projects import GENERATED_VARIABLE, all_variants
from tests.template_helpers import postgres, upstream_server

ROOT = Path(__file__).resolve().parents[1]
# template_repo and project_from_a, for the update tests
pytest_plugins = ["tests.update_fixtures"]

# Where the run's PostgreSQL server is; set it to use a server of your own instead.
SERVER_URL_VARIABLE = "FASTAPI_SCAFFOLD_TEST_POSTGRES"
_server: contextlib.ExitStack | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--variant",
        action="append",
        default=[],
        metavar="ID",
        help="Run only the checks of this variant (an id of `fastapi-scaffold variants`, e.g. "
        "asyncpg-httpx-process); repeatable.",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _server
    # pytest-copie renders `--template` (default: the current directory): this checkout.
    if not (Path(config.option.template) / "copier.yml").is_file():
        config.option.template = str(ROOT)
    # `new` and `update` lock only where a test asks them to (tests/test_lock.py): a lock
    # costs a round of index requests, and 2 s of CPU, that the others do not test.
    os.environ["FASTAPI_SCAFFOLD_LOCK"] = "0"
    # Python's default for every process the run starts: a module compiled once is read from
    # its .pyc by the processes after it (a project's servers, workers and migrations). With
    # PYTHONDONTWRITEBYTECODE (this machine sets it) each compiled all it imported: 2 s of CPU
    # per process in an environment installed without bytecode, as the locked ones are.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if not hasattr(config, "workerinput"):
        # A template store for this run, never the user's ~/.local/share/fastapi-scaffold.
        os.environ["FASTAPI_SCAFFOLD_HOME"] = tempfile.mkdtemp(prefix="fastapi-scaffold-home-")
        # Each variant rendered once per run, shared by the xdist workers (tests/projects.py).
        os.environ[GENERATED_VARIABLE] = tempfile.mkdtemp(prefix="fastapi-scaffold-generated-")
    if hasattr(config, "workerinput") or os.environ.get(SERVER_URL_VARIABLE):
        return  # an xdist worker (the controller started the server), or a server was given
    _server = contextlib.ExitStack()
    os.environ[SERVER_URL_VARIABLE] = _server.enter_context(postgres.throwaway_cluster()).url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --variant, keep only the tests marked as those variants' checks; without it (every
    variant at once), leave out the checks marked `matrix_only` (tests/projects.py)."""
    wanted = set(config.getoption("variant"))
    if not wanted:
        kept = [item for item in items if item.get_closest_marker("matrix_only") is None]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
        return
    unknown = wanted - {variant.id for variant in all_variants()}
    if unknown:
        raise pytest.UsageError(
            f"no such variant: {', '.join(sorted(unknown))}; `fastapi-scaffold variants` lists them"
        )
    selected: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("variant")
        (selected if marker is not None and marker.args[0] in wanted else deselected).append(item)
    config.hook.pytest_deselected(items=deselected)
    items[:] = selected


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.close()
        del os.environ[SERVER_URL_VARIABLE]
    if not hasattr(config, "workerinput"):  # the run's rendered variants, store and mypy caches
        for variable in ("FASTAPI_SCAFFOLD_HOME", GENERATED_VARIABLE):
            shutil.rmtree(os.environ.pop(variable), ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _compiled_templates() -> Iterator[None]:
    """copier's renders in this process (pytest-copie's too) share Jinja's compiled templates
    with every worker and every `fastapi-scaffold` the run starts ($FASTAPI_SCAFFOLD_HOME), and
    ask git for `core.fileMode` once per project rendered."""
    with compiled_templates(), file_mode_asked_once():
        yield


@pytest.fixture(scope="session")
def upstream_url() -> Iterator[str]:
    """A real HTTP upstream on 127.0.0.1 for the served apps to call."""
    with upstream_server.UpstreamServer() as server:
        yield str(server.url)


@pytest.fixture(scope="session")
def healthy_upstream_url() -> Iterator[str]:
    """The same upstream without its deliberate faults: every item, answered at once."""
    with upstream_server.UpstreamServer(faults=False) as server:
        yield str(server.url)


@pytest.fixture(scope="session")
def redis_url(redis_proc: RedisExecutor) -> str:
    """A throwaway Redis on 127.0.0.1 (pytest-redis, one per xdist worker) for the served
    celery variants and their workers."""
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the run's server, dropped after the test."""
    server_url = os.environ[SERVER_URL_VARIABLE]
    readable = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[-40:]
    name = f"t_{hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]}_{readable}"
    with contextlib.closing(psycopg2.connect(server_url)) as admin:
        admin.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = server_url.rpartition("/")
        yield f"{base}/{name}"
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
