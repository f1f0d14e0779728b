"""Shared by the generator's tests: the repository's paths, one PostgreSQL server for the whole
run (started by the xdist controller, reached by every worker through an environment variable),
and a database per test that asks for one."""

import contextlib
import hashlib
import importlib.machinery
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psycopg2
import psycopg2.extensions
import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_TESTS = ROOT / "template" / "tests"
# Where the run's PostgreSQL server is; set it to use a server of your own instead.
SERVER_URL_VARIABLE = "FASTAPI_SCAFFOLD_TEST_POSTGRES"


def _load_postgres_helper() -> ModuleType:
    """The generated projects' own throwaway-cluster code: one implementation for both suites."""
    path = TEMPLATE_TESTS / "{% if database != 'none' %}postgres.py{% endif %}"
    loader = importlib.machinery.SourceFileLoader("template_postgres", str(path))
    module = ModuleType(loader.name)
    loader.exec_module(module)
    return module


postgres = _load_postgres_helper()
_server: contextlib.ExitStack | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _server
    if hasattr(config, "workerinput") or os.environ.get(SERVER_URL_VARIABLE):
        return  # an xdist worker (the controller started the server), or a server was given
    _server = contextlib.ExitStack()
    os.environ[SERVER_URL_VARIABLE] = _server.enter_context(postgres.throwaway_cluster())


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.close()
        del os.environ[SERVER_URL_VARIABLE]


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
