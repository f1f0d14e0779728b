"""Every combination of answers, generated and checked the way its users will check it: ruff,
ruff format, mypy --strict, and the project's own test suite against real PostgreSQL."""

import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from fastapi_scaffold import api
from fastapi_scaffold.template import Variant, variants

BIN = Path(sys.executable).parent


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed in {cwd}:\n{result.stdout}\n{result.stderr}"
    )


def variant_id(variant: Variant) -> str:
    return f"{variant.database}-{variant.http_client}-{variant.cpu_work}"


def assert_requirements_installed(project: Path) -> None:
    """The shared test environment must satisfy what each generated project asks for."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    for line in pyproject["dependencies"] + pyproject["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{project.name} needs {requirement}; the test environment has {installed}: "
            "update the test extra in the generator's pyproject.toml"
        )


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


@pytest.mark.slow
@pytest.mark.parametrize("variant", variants(), ids=variant_id)
def test_variant_passes_its_checks_and_its_own_suite(
    variant: Variant, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The longest name the template accepts, so every generated line is checked at its longest.
    package_name = f"v_{variant_id(variant).replace('-', '_')}_".ljust(40, "x")
    project = api.generate(
        tmp_path / variant_id(variant),
        {
            "package_name": package_name,
            "database": variant.database,
            "http_client": variant.http_client,
            "cpu_work": variant.cpu_work,
        },
        defaults=True,
    )
    assert_requirements_installed(project)
    assert_handler_style(project / package_name, variant)

    run([str(BIN / "ruff"), "check", "."], project)
    run([str(BIN / "ruff"), "format", "--check", "."], project)
    # One mypy cache per xdist worker: shared by its variants, never written by two processes.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    cache = tmp_path.parent.parent / f"mypy-cache-{worker}"
    run([str(BIN / "mypy"), "--cache-dir", str(cache)], project)

    env = {**os.environ}
    env.pop("DATABASE_URL", None)
    if variant.database != "none":
        env["DATABASE_URL"] = request.getfixturevalue("database_url")
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
