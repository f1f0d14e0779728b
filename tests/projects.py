"""Generated projects for the tests: made through pytest-copie as copier makes them, and their
own test suites run as their developers would."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_copie.plugin import Copie

from fastapi_scaffold.template import Variant, variants


def run_project_tests(
    project: Path, database_url: str | None, *pytest_args: str
) -> subprocess.CompletedProcess[str]:
    """Run the project's pytest against `database_url` (None: a project without a database)."""
    env = {**os.environ}
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        # pytest-alembic's collector is off in every run: it is installed here for the projects
        # with a database, which turn it off themselves (it fails on pytest 9.2).
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:pytest_alembic"]
        + list(pytest_args),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def variants_named(*ids: str) -> list[Variant]:
    """The variants with these ids ("asyncpg-httpx-process", ...), in that order."""
    by_id = {variant.id: variant for variant in variants()}
    missing = [name for name in ids if name not in by_id]
    assert not missing, f"no such variants: {missing}; the template has {sorted(by_id)}"
    return [by_id[name] for name in ids]


def each_variant() -> list[Any]:
    """Every variant as a pytest parameter marked as its checks, which `--variant ID` (one CI
    matrix job) selects."""
    return [pytest.param(v, id=v.id, marks=pytest.mark.variant(v.id)) for v in variants()]


# One of each handler style, with every feature: a database, an upstream and CPU work.
FULL_FEATURED = variants_named(
    "asyncpg-httpx-process",  # async
    "psycopg2-httpx-thread",  # mixed
    "psycopg2-requests-process",  # sync
)


def copy_template(copie: Copie, answers: dict[str, str]) -> Path:
    """Generate a project as copier does for template authors (pytest-copie: `copier copy`
    of this checkout at HEAD, defaults for whatever `answers` leaves out)."""
    answers = {"project_name": answers.get("package_name", "svc"), **answers}
    result = copie.copy(extra_answers=answers)
    assert result.exit_code == 0, f"copier could not generate {answers}: {result.exception!r}"
    assert result.project_dir is not None
    return result.project_dir


def generate(copie: Copie, variant: Variant, package_name: str) -> Path:
    """Generate `variant` with the template's defaults otherwise."""
    return copy_template(copie, {"package_name": package_name, **variant.answers})


def tree(project: Path) -> dict[str, bytes]:
    """Every file of a generated project by its relative path, but git's and the answers file
    (which records where the project came from)."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.parts and path.name != ".copier-answers.yml"
    }
