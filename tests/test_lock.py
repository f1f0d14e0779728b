"""Every generated project is locked: `new` writes uv.lock against the real package index and
commits it, the project installs from it and its own suite passes there, a stale lock fails
`uv sync --locked` with uv's own message, `update` relocks, and without an index both commands
still do their work and say how to lock later (exit 18)."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie
from typer.testing import CliRunner

from fastapi_scaffold import api
from fastapi_scaffold.cli import app
from fastapi_scaffold.errors import NOT_LOCKED_EXIT_CODE
from fastapi_scaffold.lock import LOCK_FILE, enclosing_workspace, lock, uv_binary
from fastapi_scaffold.template import Variant
from tests.projects import (
    RUN_FROM_THE_LOCK,
    all_variants,
    package_of,
    rendered,
    run_pytest,
    tree,
    variants_named,
)
from tests.update_fixtures import git

runner = CliRunner()
IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}
# An index that refuses every connection: a closed port on loopback, no cache, no retries.
NO_INDEX = {"UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple", "UV_NO_CACHE": "1"}
NO_INDEX |= {"UV_HTTP_RETRIES": "0"}
_NONE = {"database": "none", "http_client": "none", "cpu_work": "none"}


def uv(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv_binary(), *args],
        cwd=project,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def options(variant: Variant) -> list[str]:
    return [f"--{key.replace('_', '-')}={value}" for key, value in variant.answers.items()]


def run_suite(
    project: Path, venv: Path, database_url: str | None
) -> subprocess.CompletedProcess[str]:
    """The project's own suite in its own environment `venv`, with every pytest plugin that
    environment has (tests/projects.py's run_project_tests picks the project's out of the shared
    one), against `database_url` (None: a project without a database)."""
    return run_pytest(project, venv / "bin" / "python", database_url)


def locked_versions(project: Path) -> dict[str, str]:
    packages = tomllib.loads((project / LOCK_FILE).read_text())["package"]
    return {package["name"]: package["version"] for package in packages if "version" in package}


@pytest.mark.parametrize("variant", variants_named(*RUN_FROM_THE_LOCK), ids=lambda v: v.id)
def test_new_locks_the_project_and_its_suite_passes_installed_from_the_lock(
    variant: Variant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FASTAPI_SCAFFOLD_LOCK")  # the default: lock
    project = tmp_path / "svc"
    created = runner.invoke(app, ["new", str(project), "--defaults", *options(variant)])
    assert created.exit_code == 0, created.output
    assert LOCK_FILE in git(project, "ls-files").split(), "uv.lock is in the first commit"
    assert not git(project, "status", "--porcelain")
    assert uv(project, "lock", "--check").returncode == 0

    venv = tmp_path / "venv"
    synced = uv(
        project, "sync", "--locked", "--python", sys.executable, UV_PROJECT_ENVIRONMENT=str(venv)
    )
    assert synced.returncode == 0, synced.stderr
    pinned = locked_versions(project)
    freeze = uv(project, "pip", "freeze", "--python", str(venv / "bin" / "python")).stdout
    installed = dict(
        line.split("==") for line in freeze.splitlines() if "==" in line and " @ " not in line
    )
    assert installed, freeze
    assert all(
        pinned[name.lower().replace("_", "-")] == version for name, version in installed.items()
    )

    database_url = None
    if variant.database != "none":
        database_url = request.getfixturevalue("database_url")
    suite = run_suite(project, venv, database_url)
    assert suite.returncode == 0, suite.stdout[-5000:]


def _dependencies(variant: Variant) -> tuple[object, ...]:
    """What a variant's pyproject.toml varies with: not the CPU work, but for Celery."""
    return (variant.database, variant.orm, variant.http_client, variant.cpu_work == "celery")


def _pyproject(copie: Copie, variant: Variant) -> str:
    """The variant's pyproject.toml, its package name (each variant's own) set aside."""
    package = package_of(variant)
    text = (rendered(copie, variant) / "pyproject.toml").read_text()
    return text.replace(package, "PACKAGE").replace(package.replace("_", "-"), "PACKAGE")


@pytest.mark.parametrize(
    "variant",
    list({_dependencies(variant): variant for variant in reversed(all_variants())}.values()),
    ids=lambda v: v.id,
)
def test_every_variant_locks_and_its_lock_checks(
    variant: Variant, copie_session: Copie, tmp_path: Path
) -> None:
    """What `new` writes (the template rendered, then `lock`) passes `uv lock --check`, for one
    variant per set of dependencies: every other variant's pyproject.toml is one of these."""
    twins = [other for other in all_variants() if _dependencies(other) == _dependencies(variant)]
    assert {_pyproject(copie_session, twin) for twin in twins} == {
        _pyproject(copie_session, variant)
    }
    project = tmp_path / "svc"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(rendered(copie_session, variant) / name, project / name)
    # From uv's cache where it holds every package's index page (0.2 s of CPU, not 2 s of
    # index requests): those pages are the index's, fetched by another lock of this run.
    with pytest.MonkeyPatch.context() as offline:
        offline.setenv("UV_OFFLINE", "1")
        locked = lock(project)
    if not locked.written:
        locked = lock(project)
    assert locked.written, locked.reason
    checked = uv(project, "lock", "--check", UV_OFFLINE="1")
    assert checked.returncode == 0, checked.stderr


def test_a_lock_that_no_longer_matches_fails_sync_with_uvs_message(tmp_path: Path) -> None:
    project = api.new(tmp_path / "svc", {"package_name": "svc"}, defaults=True, git=False).project
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            '    "anyio>=4.4,<5",\n', '    "anyio>=4.4,<5",\n    "six>=1.16",\n'
        )
    )
    synced = uv(project, "sync", "--locked", UV_PROJECT_ENVIRONMENT=str(tmp_path / "venv"))
    assert synced.returncode != 0
    said = " ".join(synced.stderr.split())  # uv wraps its lines
    assert "The lockfile at `uv.lock` needs to be updated, but `--locked` was provided" in said


def test_new_without_an_index_generates_and_says_how_to_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**IDENTITY, **NO_INDEX}.items():
        monkeypatch.setenv(name, value)
    project = tmp_path / "svc"
    result = runner.invoke(app, ["new", str(project), "--defaults", "--lock"])
    assert result.exit_code == NOT_LOCKED_EXIT_CODE, result.output
    [line] = [line for line in result.output.splitlines() if "uv.lock was not written" in line]
    assert "127.0.0.1:9" in line
    assert f"run `uv lock` in {project} once the package index can be reached" in line
    assert (project / "pyproject.toml").is_file()
    assert not (project / LOCK_FILE).exists()
    assert "pyproject.toml" in git(project, "ls-files").split(), "committed all the same"


WORKSPACES = {
    # (the workspace root's [tool.uv.workspace], the project's path under the root)
    "every-child": ({"members": ["*"]}, "svc"),
    "other-children": ({"members": ["packages/*"]}, "svc"),
    "excluded": ({"members": ["*"], "exclude": ["svc"]}, "svc"),
    "nested": ({"members": ["apps/*"]}, "apps/svc"),
    "named": ({"members": ["apps/svc"]}, "apps/svc"),
    "too-deep": ({"members": ["*"]}, "apps/svc"),
    "glob-in-the-middle": ({"members": ["*/svc"]}, "apps/svc"),
}


def workspace_with(root: Path, workspace: dict[str, list[str]]) -> None:
    globs = "\n".join(f"{key} = {value!r}" for key, value in workspace.items())
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "root"\nversion = "0"\n\n[tool.uv.workspace]\n' + globs + "\n"
    )


@pytest.mark.parametrize(("workspace", "where"), WORKSPACES.values(), ids=WORKSPACES.keys())
def test_a_workspace_member_is_found_as_uv_finds_it(
    tmp_path: Path, workspace: dict[str, list[str]], where: str
) -> None:
    """`enclosing_workspace` answers as `uv workspace dir` does, in the project."""
    root = tmp_path / "root"
    workspace_with(root, workspace)
    project = root / where
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "svc"\nversion = "0"\n')
    answer = uv(project, "workspace", "dir")
    assert answer.returncode == 0, answer.stderr
    by_uv = Path(answer.stdout.strip())
    assert by_uv in (root, project)
    assert enclosing_workspace(project) == (root if by_uv == root else None)


def test_new_in_a_workspace_that_takes_it_leaves_the_lock_to_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv keeps one lock for a workspace's members, at its root: `new` writes none in the
    project (uv would not read it), touches nothing outside it, and says so (exit 18)."""
    for name, value in {**IDENTITY, **NO_INDEX}.items():  # no index is asked
        monkeypatch.setenv(name, value)
    root = tmp_path / "root"
    workspace_with(root, WORKSPACES["every-child"][0])
    before = (root / "pyproject.toml").read_bytes()
    project = root / "svc"
    answers = [f"--data={key}={value}" for key, value in _NONE.items()]
    result = runner.invoke(app, ["new", str(project), "--defaults", "--lock", *answers])
    assert result.exit_code == NOT_LOCKED_EXIT_CODE, result.output
    [line] = [line for line in result.output.splitlines() if "uv.lock was not written" in line]
    assert f"svc is a member of the uv workspace at {root}" in line
    assert f"run `uv lock` in {root}, then commit its uv.lock" in line
    assert (project / "pyproject.toml").is_file()
    assert not (project / LOCK_FILE).exists()
    assert sorted(path.name for path in root.iterdir()) == ["pyproject.toml", "svc"]
    assert (root / "pyproject.toml").read_bytes() == before


def test_update_relocks_what_it_changes_as_a_fresh_new_locks_it(tmp_path: Path) -> None:
    """An untouched, locked project switched to httpx: the update relocks in the same staged
    change, and the result is the tree a fresh `new` with those answers makes, its lock pinning
    the same versions."""
    before = {"package_name": "svc", "database": "psycopg2", "http_client": "requests"}
    project = api.generate(tmp_path / "old" / "svc", before, defaults=True, lock=True)
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "-qm", "new")
    updated = api.update(project, {"http_client": "httpx"}, defaults=True)
    assert updated.locked is not None
    assert updated.locked.written
    assert LOCK_FILE in updated.changed
    assert LOCK_FILE in git(project, "diff", "--staged", "--name-only").split()
    assert "httpx" in locked_versions(project)
    fresh = api.generate(
        tmp_path / "fresh" / "svc", {**before, "http_client": "httpx"}, defaults=True, lock=True
    )
    ours, theirs = tree(project), tree(fresh)
    del ours[LOCK_FILE], theirs[LOCK_FILE]
    assert ours == theirs
    # The same packages at the same versions; uv keeps the relocked file's fork order.
    assert locked_versions(project) == locked_versions(fresh)
    assert uv(project, "lock", "--check").returncode == 0


def test_update_without_an_index_is_applied_and_says_how_to_relock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = api.generate(tmp_path / "svc", {"package_name": "svc"}, defaults=True, lock=True)
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "-qm", "new")
    lock_before = (project / LOCK_FILE).read_bytes()
    for name, value in NO_INDEX.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(
        app, ["update", str(project), "--defaults", "--lock", "--database", "psycopg2"]
    )
    assert result.exit_code == NOT_LOCKED_EXIT_CODE, result.output
    assert "uv.lock was not relocked" in result.output
    assert "psycopg2" in (project / "pyproject.toml").read_text(), "the update is applied"
    assert f"run `uv lock` in {project} once" in result.output
    assert (project / LOCK_FILE).read_bytes() == lock_before


def test_without_uv_pip_installs_the_dev_group_and_the_suite_passes(tmp_path: Path) -> None:
    """The README's path without uv, for the variant with the fewest dependencies: pip 25.1 or
    newer installs the project and its PEP 735 `dev` group from pyproject.toml's ranges."""
    project = api.generate(tmp_path / "svc", {"package_name": "svc"} | _NONE, defaults=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    # --no-compile: the suite compiles what it imports, a third of what is installed.
    for arguments in (["pip>=25.1"], ["--no-compile", "-e", ".", "--group", "dev"]):
        installed = subprocess.run(
            [*pip, *arguments], cwd=project, capture_output=True, text=True, check=False
        )
        assert installed.returncode == 0, installed.stderr
    suite = run_suite(project, venv, None)
    assert suite.returncode == 0, suite.stdout[-5000:]
    assert " passed" in suite.stdout
