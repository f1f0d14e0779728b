"""Every combination of answers, generated and checked the way its users will check it: ruff,
ruff format, mypy --strict, and the project's own test suite against real PostgreSQL."""

import ast
import contextlib
import os
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from pytest_copie.plugin import Copie

from fastapi_scaffold.template import Variant
from tests.projects import (
    RUN_FROM_THE_LOCK,
    SUITE_FILE_EXERCISES,
    all_variants,
    copy_of,
    each_variant,
    package_of,
    rendered,
    represents,
    represents_in_suites,
    run_mypy,
    run_project_tests,
    suite_files,
)
from tests.served import BIN, celery_worker, request_json, run, served, wait_until_ready
from tests.template_helpers import TEMPLATE_TESTS

# The SQL words a query starts with, and the driver methods that run one.
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
QUERY_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval"}


# What the served probe varies with when every variant is checked at once: the app's wiring by
# its database, ORM and HTTP client, each served in its fullest variant, the one with Celery
# (a worker beside the app: the most wiring). The apps without Celery are served elsewhere:
# the thread and process pools behind /compute in test_properties, test_load and test_hostile
# (FULL_FEATURED), and one per database by the Dockerfile's steps (test_shipping); each pool's
# own suite (test_compute, test_concurrency) runs in every style. `--variant` serves its
# variant whatever it is.
PROBE_EXERCISES = ("database", "orm", "http_client")


def probe(base: str, variant: Variant) -> None:
    """Call each endpoint the variant has, once, as its README describes it."""
    if variant.database != "none" or variant.cpu_work == "celery":
        wait_until_ready(base)  # the Celery worker alive, too
    if variant.database != "none":
        status, item = request_json("POST", f"{base}/items", {"name": "served"})
        assert status == 201
        assert request_json("GET", f"{base}/items/{item['id']}") == (200, item)
    if variant.http_client != "none":
        assert request_json("GET", f"{base}/upstream/3") == (200, {"id": 3, "name": "item 3"})
    if variant.cpu_work != "none":
        assert request_json("GET", f"{base}/compute?n=100") == (200, {"n": 100, "result": 615})


def assert_requirements_installed(project: Path) -> None:
    """The shared test environment must satisfy what each generated project asks for."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    for line in pyproject["project"]["dependencies"] + pyproject["dependency-groups"]["dev"]:
        requirement = Requirement(line)
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{project.name} needs {requirement}; the test environment has {installed}: "
            "update the test extra in the generator's pyproject.toml"
        )


def assert_tidy_text(project: Path) -> None:
    """No leftovers of the template's conditionals where ruff format does not look."""
    for path in project.rglob("*"):
        prose = path.suffix in {".md", ".toml", ".sql", ".yml"} or path.name == ".gitignore"
        if path.is_file() and prose:
            text = path.read_text()
            assert "\n\n\n" not in text, f"{path.name} has two blank lines in a row"
            assert text.endswith("\n"), f"{path.name} does not end with a newline"
            assert not text.endswith("\n\n"), f"{path.name} ends with a blank line"
            assert all(line == line.rstrip() for line in text.splitlines()), path.name
            assert "{%" not in text, f"{path.name} has unrendered Jinja"


def assert_handler_style(package: Path, variant: Variant) -> None:
    """Handlers that call a blocking library are `def` in the sync style and offloaded in the
    mixed one; everything else is `async def`."""
    routes = {path.stem: path.read_text() for path in (package / "routes").glob("*.py")}
    for name in ("items", "upstream"):
        if name not in routes:
            continue
        source = routes[name]
        if variant.handler_style == "sync":
            assert "async def" not in source, f"{name}: sync-style handlers must be plain def"
        else:
            assert "\ndef " not in source, f"{name}: {variant.handler_style} handlers are async"
    blocking_route = {"psycopg2": "items", "requests": "upstream"}
    if variant.handler_style == "mixed":
        for library in (variant.database, variant.http_client):
            if library in blocking_route:
                assert "await run_sync(" in routes[blocking_route[library]]


def assert_sql_parameterised(package: Path, variant: Variant) -> None:
    """Queries are literals with placeholders (or SQLAlchemy's, built from the tables): no SQL
    text is built with an f-string, %, + or str.format, so no value can become SQL."""
    queries = 0
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.expr):
                continue
            built = (
                isinstance(node, ast.JoinedStr)
                or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add))
                or (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "format")
            )
            if built and SQL_WORDS.search(ast.unparse(node)):
                pytest.fail(f"{path.name}:{node.lineno} builds SQL: {ast.unparse(node)}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in QUERY_METHODS:
                assert node.args, f"{path.name}:{node.lineno}: a query without its SQL"
                queries += isinstance(node.args[0], ast.Constant)
    if variant.database != "none" and variant.orm == "none":
        assert queries >= 3, "the items queries were not found: is this check still looking?"


def assert_settings_read_without_the_web_framework(package: Path) -> None:
    """settings.py is read by the migrations and the Celery workers too: importing FastAPI
    there cost each of their processes 0.4 s of CPU."""
    tree = ast.parse((package / "settings.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"settings.py imports from the package: {ast.unparse(node)}"
            modules = [node.module or ""]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            assert module.split(".")[0] not in {"fastapi", "starlette"}, ast.unparse(node)


def heaviest_first(params: list[Any]) -> list[Any]:
    """The variants that run the most generated test files first (Celery's worker among them),
    then those served: the light ones last, so that xdist's workers end together (the heaviest
    last kept one worker busy for two minutes while the others were idle)."""
    every_variant = all_variants()

    def weight(param: Any) -> tuple[int, str]:
        variant: Variant = param.values[0]
        files = sum(represents_in_suites(variant, key) for key in SUITE_FILE_EXERCISES.values())
        files *= variant.id not in RUN_FROM_THE_LOCK
        served = represents(variant, PROBE_EXERCISES, every_variant)
        return (-(files + 2 * served + 3 * (variant.cpu_work == "celery")), variant.id)

    return sorted(params, key=weight)


@pytest.mark.slow
@pytest.mark.parametrize("variant", heaviest_first(each_variant()))
def test_variant_passes_its_checks_and_its_own_suite(
    variant: Variant, copie: Copie, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What `pytest --variant ID` runs, locally or as the variant's CI job."""
    package_name = package_of(variant)
    project = copy_of(rendered(copie, variant), tmp_path)
    assert_requirements_installed(project)
    assert_tidy_text(project)
    assert_handler_style(project / package_name, variant)
    assert_sql_parameterised(project / package_name, variant)
    assert_settings_read_without_the_web_framework(project / package_name)

    run([str(BIN / "ruff"), "check", "."], project)
    run([str(BIN / "ruff"), "format", "--check", "."], project)
    # One mypy cache per xdist worker: shared by its variants, never written by two processes.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    typed = run_mypy(project, tmp_path.parent.parent / f"mypy-cache-{worker}")
    assert typed.returncode == 0, f"mypy failed in {project}:\n{typed.stdout}\n{typed.stderr}"

    database_url = None
    if variant.database != "none":
        database_url = request.getfixturevalue("database_url")
    # One run of every variant runs each file where what it exercises is new (tests/projects.py),
    # which leaves some variants none, and the RUN_FROM_THE_LOCK ones to tests/test_lock.py;
    # --variant runs the whole suite.
    every_variant = not request.config.getoption("variant")
    files = suite_files(project, variant) if every_variant else ["tests"]
    if files:
        suite = run_project_tests(project, database_url, *files)
        assert suite.returncode == 0, f"{project.name}'s own suite failed:\n{suite.stdout[-5000:]}"

    if every_variant and not represents(variant, PROBE_EXERCISES, all_variants()):
        return  # served in the variant that differs only in its CPU work: the one with Celery
    env = {**os.environ}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if variant.http_client != "none":
        env["UPSTREAM_URL"] = request.getfixturevalue("upstream_url")
    with contextlib.ExitStack() as stack:
        if variant.cpu_work == "celery":
            env["REDIS_URL"] = request.getfixturevalue("redis_url")
            stack.enter_context(celery_worker(project, env["REDIS_URL"]))
        base = stack.enter_context(served(project, package_name, env))
        probe(base, variant)


def test_each_selected_suite_file_is_keyed_by_what_decides_it() -> None:
    """A generated test file runs in one variant per value of its key (tests/projects.py): the
    key must name each answer its own file-name condition names, or some variants would have
    the file with no variant running it; and it must name a file the template has."""
    answers = re.compile(r"\b(database|orm|http_client|cpu_work|handler_style)\b")
    file_name = re.compile(r"(?:\{%.*?%\})?(.*?)(?:\{% endif %\})?(?:\.jinja)?")
    decided_by = {}
    for path in TEMPLATE_TESTS.iterdir():
        match = file_name.fullmatch(path.name)
        assert match is not None
        decided_by[match.group(1)] = set(answers.findall(path.name))
    for test_file, key in SUITE_FILE_EXERCISES.items():
        assert test_file in decided_by, f"{test_file} is no longer in template/tests"
        missing = decided_by[test_file] - set(key)
        assert not missing, f"{test_file}'s key leaves out {missing}, which decide if it exists"
