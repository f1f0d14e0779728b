"""Updating generated projects for real: template versions A and B tagged in a temporary git
repository, a project generated from A, committed and edited by its user, then updated."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import copier
import psycopg2
import pytest
from typer.testing import CliRunner

from fastapi_scaffold import __version__, api, store
from fastapi_scaffold.cli import app
from fastapi_scaffold.errors import (
    NotAProject,
    TemplateUnavailable,
    UpdateConflicts,
    UpdateRefused,
)
from tests.projects import run_project_tests, tree
from tests.update_fixtures import (
    ANSWERS,
    B_HEALTH_DOC,
    B_README_LINE,
    ROOT,
    USER_HEALTH_DOC,
    copy_template,
    git,
    release_b,
)

runner = CliRunner()


def assert_user_edits_survive(project: Path) -> None:
    assert (project / "svc" / "routes" / "extra.py").is_file()
    assert "app.include_router(extra.router)" in (project / "svc" / "main.py").read_text()
    assert "default=2.5" in (project / "svc" / "settings.py").read_text()


def test_update_brings_b_and_keeps_the_users_edits(
    project_from_a: Path, template_repo: Path
) -> None:
    result = api.update(project_from_a, defaults=True, template=str(template_repo))
    assert (result.from_version, result.to_version) == ("v1.0.0", "v2.0.0")
    assert B_README_LINE in (project_from_a / "README.md").read_text()
    assert B_HEALTH_DOC in (project_from_a / "svc" / "routes" / "health.py").read_text()
    assert_user_edits_survive(project_from_a)
    assert "_commit: v2.0.0" in (project_from_a / ".copier-answers.yml").read_text()


def test_plain_copier_update_works_with_the_recorded_source(project_from_a: Path) -> None:
    copier_bin = Path(sys.executable).parent / "copier"
    result = subprocess.run(
        [str(copier_bin), "update", "--defaults", "--quiet"],
        cwd=project_from_a,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert B_README_LINE in (project_from_a / "README.md").read_text()
    assert_user_edits_survive(project_from_a)


def test_a_conflicting_edit_gets_markers_and_a_non_zero_exit(
    project_from_a: Path, template_repo: Path
) -> None:
    health = project_from_a / "svc" / "routes" / "health.py"
    lines = health.read_text().splitlines()
    health.write_text("\n".join([USER_HEALTH_DOC, *lines[1:]]) + "\n")
    git(project_from_a, "commit", "--quiet", "--all", "-m", "user rewords health")

    result = runner.invoke(
        app, ["update", str(project_from_a), "--defaults", "--template", str(template_repo)]
    )
    assert result.exit_code == UpdateConflicts.exit_code, result.output
    assert "svc/routes/health.py" in result.stderr
    merged = health.read_text()
    assert "<<<<<<< before updating" in merged
    assert USER_HEALTH_DOC in merged
    assert B_HEALTH_DOC in merged
    assert B_README_LINE in (project_from_a / "README.md").read_text()


def test_pretend_writes_nothing(project_from_a: Path, template_repo: Path) -> None:
    head = git(project_from_a, "rev-parse", "HEAD")
    result = runner.invoke(
        app,
        ["update", str(project_from_a), "--defaults", "--pretend"]
        + ["--template", str(template_repo)],
    )
    assert result.exit_code == 0, result.output
    assert "Nothing written" in result.stdout
    assert "uv.lock" not in result.stdout  # version B leaves the dependencies as they are
    assert git(project_from_a, "status", "--porcelain") == ""
    assert git(project_from_a, "rev-parse", "HEAD") == head


@pytest.mark.parametrize("lock", ["--lock", "--no-lock"])
def test_pretend_says_whether_the_lock_would_follow(
    project_from_a: Path, template_repo: Path, lock: str
) -> None:
    """Celery's dependencies change pyproject.toml: uv.lock would be relocked, unless --no-lock;
    neither is done (no index is asked)."""
    result = runner.invoke(
        app,
        ["update", str(project_from_a), "--defaults", "--pretend", lock]
        + ["--data", "cpu_work=celery", "--template", str(template_repo)],
    )
    assert result.exit_code == 0, result.output
    assert "  pyproject.toml\n" in result.stdout
    relocked = "The dependencies change: uv.lock would be relocked with them." in result.stdout
    assert relocked == (lock == "--lock"), result.stdout
    assert git(project_from_a, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("spoil", "error", "mentioned"),
    [
        (lambda p: shutil.rmtree(p / ".git"), UpdateRefused, "is not under git"),
        (lambda p: (p / "README.md").write_text("dirty"), UpdateRefused, "uncommitted changes"),
        (lambda p: (p / ".copier-answers.yml").unlink(), NotAProject, "no .copier-answers.yml"),
    ],
    ids=["not-under-git", "dirty", "not-a-project"],
)
def test_update_refuses_with_one_line(
    project_from_a: Path,
    template_repo: Path,
    spoil: Callable[[Path], object],
    error: type[Exception],
    mentioned: str,
) -> None:
    spoil(project_from_a)
    before = sorted(str(p) for p in project_from_a.rglob("*") if ".git" not in p.parts)
    result = runner.invoke(
        app, ["update", str(project_from_a), "--defaults", "--template", str(template_repo)]
    )
    assert result.exit_code == error.exit_code, result.output  # type: ignore[attr-defined]
    assert mentioned in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    after = sorted(str(p) for p in project_from_a.rglob("*") if ".git" not in p.parts)
    assert after == before


def generated_elsewhere(tmp_path: Path, source: str) -> Path:
    """A project whose answers file records `source` as its template."""
    project = api.generate(tmp_path / "svc", ANSWERS, defaults=True)
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(str(store.store_dir()), source))
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated elsewhere")
    return project


def test_a_template_source_missing_here_is_named(tmp_path: Path) -> None:
    project = generated_elsewhere(tmp_path, "/nowhere/our-template")
    result = runner.invoke(app, ["update", str(project), "--defaults"])
    assert result.exit_code == TemplateUnavailable.exit_code, result.output
    assert "/nowhere/our-template" in result.stderr
    assert "--template" in result.stderr


def test_a_project_made_from_another_machines_store_updates_from_this_one(
    tmp_path: Path,
) -> None:
    project = generated_elsewhere(tmp_path, "/home/someone/.local/share/fastapi-scaffold/template")
    result = runner.invoke(app, ["update", str(project), "--defaults"])
    assert result.exit_code == 0, result.output
    recorded = (project / ".copier-answers.yml").read_text()
    assert f"_src_path: '{store.store_dir()}'" in recorded or str(store.store_dir()) in recorded


def test_a_migration_renames_a_setting_in_the_users_env_file(
    project_from_a: Path, template_repo: Path
) -> None:
    """Version C renames LOOP_LAG_WARN_MS: copier re-renders settings.py, and the `_migrations`
    entry carries the developer's own value in the git-ignored .env over to the new name."""
    for path in (template_repo / "template").rglob("*"):
        if path.is_file():
            text = path.read_text()
            renamed = text.replace("loop_lag_warn_ms", "loop_lag_warning_ms")
            path.write_text(renamed.replace("LOOP_LAG_WARN_MS", "LOOP_LAG_WARNING_MS"))
    config = template_repo / "copier.yml"
    migration = (
        '_migrations:\n  - version: v3.0.0\n    command: ["{{ _copier_python }}", '
        '"{{ _copier_conf.src_path }}/migrations/rename_setting.py", '
        '"LOOP_LAG_WARN_MS", "LOOP_LAG_WARNING_MS"]\n'
    )
    config.write_text(config.read_text().replace("_migrations: []\n", migration))
    shutil.copytree(ROOT / "migrations", template_repo / "migrations")
    git(template_repo, "add", "--all")
    git(template_repo, "commit", "--quiet", "-m", "C: rename LOOP_LAG_WARN_MS")
    git(template_repo, "tag", "v3.0.0")
    (project_from_a / ".env").write_text("export LOOP_LAG_WARN_MS=250\nOTHER=1\n")
    assert git(project_from_a, "status", "--porcelain") == ""  # .env is git-ignored

    result = api.update(project_from_a, defaults=True, template=str(template_repo), trust=True)
    assert result.to_version == "v3.0.0"
    env_file = (project_from_a / ".env").read_text()
    assert env_file == "export LOOP_LAG_WARNING_MS=250\nOTHER=1\n"
    read_back = subprocess.run(
        [sys.executable, "-c", "from svc.settings import Settings; print(Settings().model_dump())"],
        cwd=project_from_a,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "'loop_lag_warning_ms': 250.0" in read_back.stdout
    assert_user_edits_survive(project_from_a)


def test_the_installed_cli_updates_offline_from_its_own_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project made by this version is updated by a later one through the local store."""
    monkeypatch.setenv("FASTAPI_SCAFFOLD_HOME", str(tmp_path / "home"))
    project = api.generate(tmp_path / "svc", ANSWERS, defaults=True)
    assert f"_commit: v{__version__}" in (project / ".copier-answers.yml").read_text()
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated")

    later = tmp_path / "later-release"
    copy_template(later)
    release_b(later)
    monkeypatch.setattr(store, "template_dir", lambda: later)
    monkeypatch.setattr(store, "__version__", "99.0.0")
    result = api.update(project, defaults=True)
    assert (result.from_version, result.to_version) == (f"v{__version__}", "v99.0.0")
    assert B_README_LINE in (project / "README.md").read_text()
    tags = git(store.store_dir(), "tag", "--list").split()
    assert tags == [f"v{__version__}", "v99.0.0"]


def test_switching_psycopg2_to_asyncpg_gives_a_passing_async_project(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    project = api.generate(tmp_path / "svc", ANSWERS, defaults=True)
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated, mixed style")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOur own notes.\n")
    git(project, "commit", "--quiet", "--all", "-m", "user notes")

    result = runner.invoke(app, ["update", str(project), "--defaults", "--database", "asyncpg"])
    assert result.exit_code == 0, result.output
    routes = (project / "svc" / "routes" / "items.py").read_text()
    assert "conn: DbConnection" in routes
    assert "run_sync" not in routes
    assert not (project / "svc" / "offload.py").exists()
    assert "asyncpg" in (project / "pyproject.toml").read_text()
    assert "Our own notes." in readme.read_text()

    # The files of the layer the switch rewrote; the whole suite of asyncpg-httpx-none, which
    # this project now is but for its README, runs in tests/test_lock.py.
    # (A file that is not there fails the run: pytest's exit code 4.)
    layer = ["items", "database_faults", "database_startup", "migrations"]
    database_url = request.getfixturevalue("database_url")
    suite = run_project_tests(project, database_url, *(f"tests/test_{f}.py" for f in layer))
    assert suite.returncode == 0, suite.stdout[-3000:]


# Answer switches on untouched projects: (before, the change).
SWITCHES = [
    (
        {"database": "psycopg2", "http_client": "requests", "cpu_work": "process"},
        {"cpu_work": "celery"},
    ),
    ({"database": "asyncpg", "http_client": "httpx", "cpu_work": "celery"}, {"cpu_work": "thread"}),
    (
        {"database": "psycopg2", "http_client": "requests", "cpu_work": "none"},
        {"database": "asyncpg", "http_client": "httpx"},
    ),
    (
        {"database": "asyncpg", "http_client": "httpx", "cpu_work": "none"},
        {"database": "psycopg2", "http_client": "requests"},
    ),
    ({"database": "none", "http_client": "httpx", "cpu_work": "thread"}, {"database": "asyncpg"}),
    ({"database": "psycopg2", "http_client": "httpx", "cpu_work": "none"}, {"orm": "sqlalchemy"}),
    (
        {"database": "asyncpg", "http_client": "none", "cpu_work": "process"},
        {"orm": "sqlalchemy"},
    ),
    (
        {
            "database": "psycopg2",
            "orm": "sqlalchemy",
            "http_client": "requests",
            "cpu_work": "none",
        },
        {"orm": "none"},
    ),
]


@pytest.mark.parametrize(
    ("before", "change"),
    SWITCHES,
    ids=[f"{'-'.join(b.values())}+{'+'.join(c.values())}" for b, c in SWITCHES],
)
def test_an_untouched_project_switched_by_update_equals_a_fresh_one(
    tmp_path: Path, before: dict[str, str], change: dict[str, str]
) -> None:
    project = api.generate(
        tmp_path / "old" / "svc", {"package_name": "svc", **before}, defaults=True
    )
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated")
    api.update(project, change, defaults=True, lock=False)  # with the lock: tests/test_lock.py
    fresh = api.generate(
        tmp_path / "fresh" / "svc", {"package_name": "svc", **before, **change}, defaults=True
    )
    assert tree(project) == tree(fresh)
    answers = (project / ".copier-answers.yml").read_text()
    assert answers == (fresh / ".copier-answers.yml").read_text()


# What a project made before the template shipped deployment files lacks.
SHIPPING_FILES = {
    "Dockerfile.jinja": "Dockerfile",
    ".dockerignore": ".dockerignore",
    "compose.yaml.jinja": "compose.yaml",
    ".github": ".github/workflows/ci.yml",
    ".pre-commit-config.yaml": ".pre-commit-config.yaml",
}


@pytest.mark.parametrize("cpu_work", ["none", "celery"])
def test_an_earlier_project_gains_the_shipping_files(tmp_path: Path, cpu_work: str) -> None:
    """Version A is this template without its deployment files; an untouched project made
    from it and updated to this template is what `new` makes today, byte for byte."""
    repo = tmp_path / "template-repo"
    copy_template(repo)
    for name in SHIPPING_FILES:
        path = repo / "template" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "A: no deployment files")
    git(repo, "tag", "v1.0.0")
    copy_template(repo)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "B: Dockerfile, compose, CI, pre-commit")
    git(repo, "tag", "v2.0.0")

    answers = {**ANSWERS, "cpu_work": cpu_work}
    project = tmp_path / "old" / "svc"
    copier.run_copy(str(repo), project, data=answers, vcs_ref="v1.0.0", defaults=True, quiet=True)
    assert not (project / "Dockerfile").exists()
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated from A")

    api.update(project, defaults=True, template=str(repo))
    for generated in SHIPPING_FILES.values():
        assert (project / generated).is_file(), generated
    fresh = tmp_path / "fresh" / "svc"
    copier.run_copy(str(repo), fresh, data=answers, vcs_ref="v2.0.0", defaults=True, quiet=True)
    assert tree(project) == tree(fresh)


def test_a_style_change_runs_check_on_the_users_async_code(tmp_path: Path) -> None:
    """async -> sync: the user's `async def` route now calls a helper that blocks."""
    answers = {**ANSWERS, "database": "asyncpg", "http_client": "httpx"}
    project = api.generate(tmp_path / "svc", answers, defaults=True)
    (project / "svc" / "routes" / "first.py").write_text(
        '"""A route of the user\'s own."""\n\nfrom fastapi import APIRouter, Request\n\n'
        "from .. import db\n\nrouter = APIRouter()\n\n\n"
        '@router.get("/first")\nasync def first(request: Request) -> object:\n'
        "    return await db.get_item(request.app.state.db_pool, 1)\n"
    )
    main = project / "svc" / "main.py"
    main.write_text(
        main.read_text()
        .replace("from .routes import ", "from .routes import first, ")
        .replace("    return app\n", "    app.include_router(first.router)\n    return app\n")
    )
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated, async style, and a route of our own")

    result = runner.invoke(
        app,
        [
            "update",
            str(project),
            "--defaults",
            "--database",
            "psycopg2",
            "--http-client",
            "requests",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "The handler style changed from async to sync" in result.stdout
    assert "GET /first" in result.stdout
    assert "FSB2" in result.stdout  # psycopg2, now under the user's async def

    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "updated to the sync style")
    unchanged = runner.invoke(app, ["update", str(project), "--defaults"])
    assert unchanged.exit_code == 0, unchanged.output
    assert "handler style" not in unchanged.stdout


# The last release before the template had migrations: its projects' databases were set up by
# `python -m <package>.migrate`, which applied schema.sql.
BEFORE_MIGRATIONS = "2342ded"


@pytest.mark.parametrize(
    "answers",
    [{"database": "psycopg2"}, {"database": "asyncpg", "orm": "sqlalchemy"}],
    ids=["psycopg2", "asyncpg-to-sqlalchemy"],
)
def test_a_project_from_before_migrations_keeps_its_rows(
    tmp_path: Path, database_url: str, answers: dict[str, str]
) -> None:
    """A project made before migrations, its database set up by its `migrate` module and
    holding rows, is updated to this template (to the ORM at the same time, in one case):
    `alembic upgrade head` adopts the table, and every row is still there."""
    repo = tmp_path / "template-repo"
    repo.mkdir()
    archive = subprocess.run(
        ["git", "archive", BEFORE_MIGRATIONS, "copier.yml", "template"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "A: before migrations")
    git(repo, "tag", "v1.0.0")
    shutil.rmtree(repo / "template")
    copy_template(repo)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "B: alembic")
    git(repo, "tag", "v2.0.0")

    before = {**ANSWERS, "database": answers["database"]}
    project = tmp_path / "svc"
    copier.run_copy(str(repo), project, data=before, vcs_ref="v1.0.0", defaults=True, quiet=True)
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated from A")
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "svc.migrate"], cwd=project, env=env, check=True)
    names = [f"kept {i}" for i in range(5)]
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO items (name) VALUES (%s)", [(name,) for name in names])
        cur.execute("SELECT id, name, created_at FROM items ORDER BY id")
        rows = cur.fetchall()

    api.update(project, answers, defaults=True, template=str(repo))
    assert not (project / "svc" / "migrate.py").exists()
    assert (project / "alembic.ini").is_file()
    upgrade = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, name, created_at FROM items ORDER BY id")
        assert cur.fetchall() == rows
        cur.execute("SELECT version_num FROM alembic_version")
        assert cur.fetchall() == [("0001",)]
        cur.execute("INSERT INTO items (name) VALUES ('after') RETURNING id")
        new = cur.fetchone()
        assert new is not None
        assert new[0] > rows[-1][0], "the identity goes on where it was"
