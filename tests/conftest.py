"""Shared by the generator's tests: one PostgreSQL server for the whole
run (started by the xdist controller, reached by every worker through an environment variable),
and a database per test that asks for one."""

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
import pytest

from tests.template_helpers import postgres, upstream_server

# Where the run's PostgreSQL server is; set it to use a server of your own instead.
SERVER_URL_VARIABLE = "FASTAPI_SCAFFOLD_TEST_POSTGRES"
_server: contextlib.ExitStack | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _server
    if not hasattr(config, "workerinput"):
        # A template store for this run, never the user's ~/.local/share/fastapi-scaffold.
        os.environ["FASTAPI_SCAFFOLD_HOME"] = tempfile.mkdtemp(prefix="fastapi-scaffold-home-")
    if hasattr(config, "workerinput") or os.environ.get(SERVER_URL_VARIABLE):
        return  # an xdist worker (the controller started the server), or a server was given
    _server = contextlib.ExitStack()
    os.environ[SERVER_URL_VARIABLE] = _server.enter_context(postgres.throwaway_cluster()).url


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.close()
        del os.environ[SERVER_URL_VARIABLE]


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
