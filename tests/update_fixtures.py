"""Template versions A and B tagged in a temporary git repository, and a project generated from
A, committed and edited by its user: shared by the update tests (a plugin of tests/conftest.py)."""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import copier
import pytest

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = {"project_name": "svc", "package_name": "svc", "database": "psycopg2"}
ANSWERS |= {"http_client": "httpx", "cpu_work": "none"}
B_README_LINE = "Changed in version B of the template."
B_HEALTH_DOC = '"""Liveness, as version B of the template words it."""'
USER_HEALTH_DOC = '"""Liveness, as the user words it."""'


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def copy_template(destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "copier.yml", destination / "copier.yml")
    shutil.copytree(
        ROOT / "template",
        destination / "template",
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )


def release_b(template: Path) -> None:
    """Version B: a line more in the generated README, a new docstring for the health route."""
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + f"\n{B_README_LINE}\n")
    health = template / "template" / "{{package_name}}" / "routes" / "health.py"
    lines = health.read_text().splitlines()
    health.write_text("\n".join([B_HEALTH_DOC, *lines[1:]]) + "\n")


def _release(repo: Path) -> None:
    """The template as version v1.0.0 (A) and v2.0.0 (B) in a new git repository at `repo`."""
    copy_template(repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "A")
    git(repo, "tag", "v1.0.0")
    release_b(repo)
    git(repo, "commit", "--quiet", "--all", "-m", "B")
    git(repo, "tag", "v2.0.0")


def _generate_and_edit(repo: Path, project: Path) -> None:
    """A project generated from version A, committed, then edited by its user: a new route, a
    changed setting default, both committed."""
    copier.run_copy(str(repo), project, data=ANSWERS, vcs_ref="v1.0.0", defaults=True, quiet=True)
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated from A")

    (project / "svc" / "routes" / "extra.py").write_text(
        '"""A route of the user\'s own."""\n\nfrom fastapi import APIRouter\n\n'
        'router = APIRouter()\n\n\n@router.get("/extra")\nasync def extra() -> dict[str, str]:\n'
        '    return {"extra": "yes"}\n'
    )
    main = project / "svc" / "main.py"
    main.write_text(
        main.read_text()
        .replace("from .routes import ", "from .routes import extra, ")
        .replace("    return app\n", "    app.include_router(extra.router)\n    return app\n")
    )
    settings = project / "svc" / "settings.py"
    edited = settings.read_text().replace(
        "upstream_timeout_s: float = Field(default=5.0,",
        "upstream_timeout_s: float = Field(default=2.5,",
    )
    assert "default=2.5" in edited
    settings.write_text(edited)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "user edits")


@dataclass(frozen=True)
class Originals:
    """What the update tests start from, made once per xdist worker: each test gets copies
    (rendering the project from a git repository cost each test about 2 s of CPU)."""

    repo: Path  # where each test's template_repo is: the path the project's answers record
    released: Path  # the repository as released, A and B, to reset `repo` from
    project: Path


@pytest.fixture(scope="session")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Originals:
    root = tmp_path_factory.mktemp("update-originals")
    repo, released, project = root / "template-repo", root / "released", root / "project" / "svc"
    _release(repo)
    _generate_and_edit(repo, project)
    shutil.copytree(repo, released, symlinks=True)
    return Originals(repo, released, project)


@pytest.fixture
def template_repo(originals: Originals) -> Path:
    """A git repository holding the template as version v1.0.0 (A) and v2.0.0 (B), as
    released: whatever an earlier test added to it is gone."""
    shutil.rmtree(originals.repo, ignore_errors=True)  # a test may have moved it away
    shutil.copytree(originals.released, originals.repo, symlinks=True)
    return originals.repo


@pytest.fixture
def project_from_a(template_repo: Path, originals: Originals, tmp_path: Path) -> Path:
    """A project generated from version A, committed, then edited by its user: a new route, a
    changed setting default, both committed (`_generate_and_edit`)."""
    return Path(shutil.copytree(originals.project, tmp_path / "svc", symlinks=True))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in a work tree, tracked, untracked and ignored alike, but git's own."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(folder).parts
    }
