"""Generated projects for the tests: made through pytest-copie as copier makes them, and their
own test suites run as their developers would."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zlib
from collections.abc import Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pytest_copie.plugin import Copie

from fastapi_scaffold.template import Variant, variants


def run_project_tests(
    project: Path, database_url: str | None, *pytest_args: str
) -> subprocess.CompletedProcess[str]:
    """Run the project's pytest against `database_url` (None: a project without a database),
    with the pytest plugins its own environment would have (`project_plugins`)."""
    plugins = [arg for module in project_plugins(project) for arg in ("-p", module)]
    # pytest-alembic's collector is off in every run: it is installed here for the projects with
    # a database, which turn it off themselves (it fails on pytest 9.2).
    arguments = [*plugins, "-p", "no:pytest_alembic", *pytest_args]
    return run_pytest(project, Path(sys.executable), database_url, arguments, autoload=False)


def run_pytest(
    project: Path,
    python: Path,
    database_url: str | None,
    pytest_args: Sequence[str] = (),
    *,
    autoload: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`python -m pytest` in `project` against `database_url` (None: no database), with the
    pytest plugins `python`'s environment has unless `autoload` is off."""
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def project_plugins(project: Path) -> list[str]:
    """The pytest plugins (their modules) that installing `project` with its dev group brings:
    those of the distributions its dependencies need, transitively. The shared environment has
    others, the generator's own (schemathesis, hypothesis, xdist, pytest-copie); a project's
    suite never sees them in its own environment, and loading them cost each run about 4 s of
    CPU, so they are left out. So are those the project turns off itself (`-p no:NAME`)."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    wanted = [
        *pyproject["project"]["dependencies"],
        *pyproject["dependency-groups"]["dev"],
    ]
    addopts = pyproject["tool"]["pytest"]["ini_options"]["addopts"]
    blocked = {option.removeprefix("no:") for option in addopts if option.startswith("no:")}
    return [
        entry_point.value
        for entry_point in metadata.entry_points(group="pytest11")
        if entry_point.dist is not None
        and entry_point.name not in blocked
        and canonicalize_name(entry_point.dist.name) in _closure(tuple(wanted))
    ]


@cache
def _closure(requirements: tuple[str, ...]) -> frozenset[str]:
    """The distributions `requirements` install, transitively, as canonical names."""
    found: set[str] = set()
    pending = list(requirements)
    while pending:
        requirement = Requirement(pending.pop())
        name = canonicalize_name(requirement.name)
        if name in found or (requirement.marker and not requirement.marker.evaluate()):
            continue
        found.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        pending += [req for req in requires if "extra ==" not in req]
    return frozenset(found)


# The variants whose whole suite tests/test_lock.py runs in an environment installed from the
# lock `new` wrote: a sync style's, an async style's and Celery's, each light to install. A run of
# every variant counts those suites: each file they have runs there for their values of its
# key (below), and in no other variant with the same values.
RUN_FROM_THE_LOCK = ("psycopg2-requests-none", "asyncpg-httpx-none", "none-none-celery")

# What each generated test file exercises of its variant: the answers (the handler style they
# give, and "celery": whether cpu_work is celery) that change the code it runs. When one run
# checks every variant (`pytest` without --variant), a file listed here runs in one variant per
# distinct combination of these values, not in all 60 (in a RUN_FROM_THE_LOCK variant if one
# has them, else in the fullest); a file not listed runs in every variant.
# `pytest --variant ID`, each CI matrix job, runs the variant's whole suite.
# tests/test_variants.py checks that each key covers its file's own condition.
SUITE_FILE_EXERCISES: dict[str, tuple[str, ...]] = {
    "test_compute.py": ("cpu_work", "handler_style"),
    # The upstream's and the CPU work's concurrency, in each style; the database's own part
    # (/items beside held upstream calls, sync style) runs where the fullest variant has one.
    "test_concurrency.py": ("http_client", "cpu_work", "handler_style"),
    "test_database_faults.py": ("database", "orm", "handler_style"),
    # The error shape, the body limit on each route, /ready: the database's and Celery's parts.
    "test_errors.py": ("database", "orm", "celery"),
    "test_health.py": ("handler_style",),
    "test_items.py": ("database", "orm", "handler_style"),
    "test_job_concurrency.py": ("cpu_work", "handler_style"),
    # The job queue, its tasks and /compute are one code in every style (the style sizes only
    # the threads that publish: test_job_concurrency's part).
    "test_jobs.py": ("cpu_work",),
    "test_loop_monitor.py": ("handler_style",),
    "test_migrations.py": ("database", "orm"),
    "test_offload.py": ("handler_style",),
    "test_redis_faults.py": ("cpu_work",),
    "test_sessions.py": ("database", "orm"),
    "test_settings.py": ("database", "orm", "handler_style"),
    "test_slots.py": ("database",),  # slots.py: one file for every psycopg2 variant
    # Settings checked at start-up, each layer's in its own file.
    "test_startup.py": ("http_client",),
    "test_database_startup.py": ("database", "orm"),
    "test_worker_startup.py": ("cpu_work",),
    "test_server.py": ("handler_style",),  # server.py is the same file in every variant
    "test_tables.py": ("database", "orm"),
    "test_upstream.py": ("http_client", "handler_style"),
}


@cache
def all_variants() -> tuple[Variant, ...]:
    """The template's variants, computed once per process: rendering copier.yml's expressions
    for every combination takes a second or more, and each variant's test asks again."""
    return tuple(variants())


def _fullest_first(variant: Variant) -> tuple[int, str]:
    """Representatives are the variants with the most features: most interplay exercised."""
    return (-sum(value != "none" for value in variant.answers.values()), variant.id)


def suite_files(project: Path, variant: Variant) -> list[str]:
    """The generated test files that `variant` runs in tests/test_variants.py when every variant
    is checked in one run: none for a RUN_FROM_THE_LOCK variant (tests/test_lock.py runs its
    whole suite); else each file not in SUITE_FILE_EXERCISES, and each file that is, where
    `variant` represents the variants that exercise the same values (`represents_in_suites`)."""
    if variant.id in RUN_FROM_THE_LOCK:
        return []
    chosen = []
    for path in sorted((project / "tests").glob("test_*.py")):
        exercising = SUITE_FILE_EXERCISES.get(path.name)
        if exercising is None or represents_in_suites(variant, exercising):
            chosen.append(f"tests/{path.name}")
    return chosen


def represents_in_suites(variant: Variant, exercising: tuple[str, ...]) -> bool:
    """Whether `variant` runs the generated files keyed by `exercising` for its values of them:
    a RUN_FROM_THE_LOCK variant with the same values if there is one (its whole suite runs
    anyway), else the fullest."""
    return represents(variant, exercising, all_variants(), locked_first=True)


def variants_named(*ids: str) -> list[Variant]:
    """The variants with these ids ("asyncpg-httpx-process", ...), in that order."""
    by_id = {variant.id: variant for variant in all_variants()}
    missing = [name for name in ids if name not in by_id]
    assert not missing, f"no such variants: {missing}; the template has {sorted(by_id)}"
    return [by_id[name] for name in ids]


def each_variant(exercising: tuple[str, ...] | None = None) -> list[Any]:
    """Every variant as a pytest parameter marked as its checks, which `--variant ID` (one CI
    matrix job) selects. With `exercising`, the answers a check depends on, a run of every
    variant at once keeps it only in one variant per distinct combination of them (the others
    are marked `matrix_only`, and only `--variant` runs them)."""
    every_variant = all_variants()
    params = []
    for v in every_variant:
        marks = [pytest.mark.variant(v.id)]
        if exercising is not None and not represents(v, exercising, every_variant):
            marks.append(pytest.mark.matrix_only)
        params.append(pytest.param(v, id=v.id, marks=marks))
    return params


def represents(
    variant: Variant,
    exercising: tuple[str, ...],
    every_variant: Sequence[Variant],
    *,
    locked_first: bool = False,
) -> bool:
    """Whether `variant` is the fullest of the variants with its values of `exercising` (with
    `locked_first`, the RUN_FROM_THE_LOCK ones come before the fullest)."""
    same = [v for v in every_variant if _values(v, exercising) == _values(variant, exercising)]

    def order(v: Variant) -> tuple[bool, int, str]:
        return (locked_first and v.id not in RUN_FROM_THE_LOCK, *_fullest_first(v))

    return min(same, key=order) == variant


def _values(variant: Variant, names: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(
        variant.cpu_work == "celery" if name == "celery" else getattr(variant, name)
        for name in names
    )


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


# Where the run's rendered variants are kept: a directory the xdist controller makes.
GENERATED_VARIABLE = "FASTAPI_SCAFFOLD_TEST_GENERATED"


def package_of(variant: Variant) -> str:
    """The package name the per-variant checks generate a variant with: the longest the
    template accepts, so every generated line is checked at its longest."""
    package = f"v_{re.sub('[^a-z0-9]+', '_', variant.id)}_".ljust(40, "x")
    assert len(package) == 40, package
    return package


def rendered(copie: Copie, variant: Variant) -> Path:
    """`variant`, generated by `generate` once per test run and shared by every test (and
    xdist worker) that asks for it: read it, or copy it with `copy_of` to change or run it.
    Rendering costs about a second; three test files check every variant."""
    package = package_of(variant)
    shared = Path(os.environ[GENERATED_VARIABLE]) / variant.id
    if not shared.is_dir():
        staging = shared.with_name(f"{shared.name}.{os.getpid()}")
        shutil.copytree(generate(copie, variant, package), staging)
        try:
            staging.rename(shared)
        except OSError:  # another worker was first: its copy is the same
            shutil.rmtree(staging)
    return shared


def run_mypy(project: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """mypy (the project's own configuration: --strict) on `project`, with `cache`, which only
    this process writes: mypy's cache is not safe for two processes at once (python/mypy#21136).
    A new cache starts as a copy of the largest one any xdist worker has published, and is
    published after the run if it has grown past it: a cold cache cost each worker about 20 s
    of CPU for the dependencies every variant shares."""
    published = sorted(
        path  # not another worker's copy in progress: "mypy-cache-<size>.<pid>"
        for path in Path(os.environ[GENERATED_VARIABLE]).glob("mypy-cache-*")
        if path.name.removeprefix("mypy-cache-").isdigit()
    )
    if not cache.exists() and published:
        shutil.copytree(published[-1], cache)
    # mypy takes a cached module as fresh when its file has the recorded path, size and mtime
    # (whole seconds), without reading it. Every variant has `tests/test_startup.py`, ..., often
    # of one size (package names are all 40 characters) and copied with the same mtime: another
    # variant's entry was taken for this one's. An mtime of the project's own gives each a hash
    # check instead.
    mtime = 946_684_800 + zlib.crc32(str(project.absolute()).encode()) % 10**8
    for source in project.rglob("*.py"):
        os.utime(source, (mtime, mtime))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mypy"), "--cache-dir", str(cache)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    size = sum(path.stat().st_size for path in cache.rglob("*") if path.is_file())
    largest = int(published[-1].name.removeprefix("mypy-cache-")) if published else 0
    if result.returncode == 0 and size > largest * 1.1:  # a tenth more: worth another copy
        shared = Path(os.environ[GENERATED_VARIABLE]) / f"mypy-cache-{size:012d}"
        staging = shared.with_name(f"{shared.name}.{os.getpid()}")
        shutil.copytree(cache, staging)
        try:
            staging.rename(shared)
        except OSError:  # another worker's cache of the same size: either will do
            shutil.rmtree(staging)
    return result


def copy_of(project: Path, destination: Path) -> Path:
    """A copy of a shared generated project, to run or change."""
    return Path(shutil.copytree(project, destination / project.name))


def tree(project: Path) -> dict[str, bytes]:
    """Every file of a generated project by its relative path, but git's and the answers file
    (which records where the project came from)."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.parts and path.name != ".copier-answers.yml"
    }
