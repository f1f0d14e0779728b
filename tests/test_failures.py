"""Every failure of `new` and `update` that the user's environment causes is one line and an exit
code from the README's table, and leaves nothing changed on disk: broken answers files, a
damaged template store, unreachable templates, a broken git, a full disk (a real tmpfs)."""

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import copier
import pytest
from typer.testing import CliRunner

from fastapi_scaffold import api, errors, store
from fastapi_scaffold.cli import app
from tests.update_fixtures import ANSWERS, git, snapshot

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
CHOICES = ["--defaults", "--database", "none", "--http-client", "none", "--cpu-work", "none"]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI is)")


def one_line(result: object) -> str:
    stderr = getattr(result, "stderr", "")
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return str(lines[0])


def committed_project(tmp_path: Path) -> Path:
    project = api.generate(tmp_path / "svc", ANSWERS, defaults=True)
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "generated")
    return project


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_readme_lists_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| (\d+) \|", readme, re.MULTILINE))
    codes = {
        str(error.exit_code)
        for error in vars(errors).values()
        if isinstance(error, type) and issubclass(error, errors.ScaffoldError)
    }
    codes.discard(str(errors.ScaffoldError.exit_code))  # the base class, never raised
    # 1: check's findings; 2: click's usage errors; check's "some file could not be checked";
    # new's and update's "done, but not locked"
    extra = {"1", "2", str(errors.CHECK_INCOMPLETE_EXIT_CODE), str(errors.NOT_LOCKED_EXIT_CODE)}
    assert table == codes | extra


@pytest.mark.parametrize(
    "content",
    [b"_commit: [v1\n_src_path: x\n", b"- a\n- b\n", b"just a string\n", b"", b"\x00\xff\xfe\x80"],
    ids=["bad-yaml", "a-list", "a-string", "empty", "binary"],
)
def test_a_broken_answers_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    project = committed_project(tmp_path)
    (project / ".copier-answers.yml").write_bytes(content)
    git(project, "commit", "--quiet", "--all", "-m", "broken answers")
    before = snapshot(project)
    result = runner.invoke(app, ["update", str(project), "--defaults"])
    assert result.exit_code == errors.NotAProject.exit_code, result.output
    assert ".copier-answers.yml" in one_line(result)
    assert snapshot(project) == before


def test_an_unknown_template_version_is_exit_10(tmp_path: Path) -> None:
    project = committed_project(tmp_path)
    answers = project / ".copier-answers.yml"
    answers.write_text(re.sub(r"_commit: .*", "_commit: v9.9.9", answers.read_text()))
    git(project, "commit", "--quiet", "--all", "-m", "from the future")
    before = snapshot(project)
    result = runner.invoke(app, ["update", str(project), "--defaults"])
    assert result.exit_code == errors.TemplateUnavailable.exit_code, result.output
    assert "v9.9.9" in one_line(result)
    assert snapshot(project) == before


def test_an_unreachable_template_url_is_one_line_and_leaves_no_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = committed_project(tmp_path)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    url = f"http://127.0.0.1:{free_port()}/template.git"
    result = runner.invoke(app, ["update", str(project), "--defaults", "--template", url])
    assert result.exit_code == errors.TemplateUnavailable.exit_code, result.output
    assert url in one_line(result)
    assert list(temporary.iterdir()) == []
    assert not (project / ".git" / "fastapi-scaffold-update").exists()


# The template store


def make_store(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FASTAPI_SCAFFOLD_HOME", str(home))
    store.current_version()
    return store.store_dir()


def damage_objects(repo: Path) -> None:
    for path in (repo / ".git" / "objects").rglob("*"):
        if path.is_file() and path.parent.name not in {"info", "pack"}:
            path.chmod(0o644)
            path.write_bytes(b"not a git object")


@pytest.mark.parametrize(
    "damage",
    [
        lambda repo: (repo.parent / "versions.json").write_text("{not json"),
        lambda repo: (repo.parent / "versions.json").write_text("[1, 2]"),
        damage_objects,
        lambda repo: [
            (repo / ".git" / "index.lock").write_text(""),
            (repo.parent / "versions.json").unlink(),
        ],
    ],
    ids=["corrupt-index", "index-a-list", "corrupt-objects", "stale-index-lock"],
)
def test_a_damaged_store_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    repo = make_store(tmp_path / "home", monkeypatch)
    damage(repo)  # type: ignore[operator]
    result = runner.invoke(app, ["new", str(tmp_path / "svc"), *CHOICES, "--no-git"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "svc" / ".copier-answers.yml").is_file()
    _, tag = store.current_version()
    assert store.has_version(tag)


@pytest.mark.parametrize("which", ["store", "home"])
def test_a_store_path_that_is_a_file_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    home = tmp_path / "home"
    if which == "store":
        home.mkdir()
        (home / "template").write_text("not a store")
    else:
        home.write_text("not a folder")
    monkeypatch.setenv("FASTAPI_SCAFFOLD_HOME", str(home))
    result = runner.invoke(app, ["new", str(tmp_path / "svc"), *CHOICES])
    assert result.exit_code == errors.StoreUnusable.exit_code, result.output
    line = one_line(result)
    assert "FASTAPI_SCAFFOLD_HOME" in line
    assert not (tmp_path / "svc").exists()


@contextlib.contextmanager
def tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


@needs_root
def test_a_read_only_store_is_read_and_a_missing_version_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tmpfs(tmp_path / "home", "16m") as home:
        make_store(home, monkeypatch)
        subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
        result = runner.invoke(app, ["new", str(tmp_path / "svc"), *CHOICES, "--no-git"])
        assert result.exit_code == 0, result.output
    with tmpfs(tmp_path / "empty-home", "1m") as empty:
        subprocess.run(["mount", "-o", "remount,ro", str(empty)], check=True)
        monkeypatch.setenv("FASTAPI_SCAFFOLD_HOME", str(empty))
        result = runner.invoke(app, ["new", str(tmp_path / "svc2"), *CHOICES])
        assert result.exit_code == errors.StoreUnusable.exit_code, result.output
        assert "FASTAPI_SCAFFOLD_HOME" in one_line(result)
        assert not (tmp_path / "svc2").exists()


# git


def test_a_broken_git_configuration_is_git_s_own_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user\n\tname = broken\n")
    project = committed_project(tmp_path)
    before = snapshot(project)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))

    created = runner.invoke(app, ["new", str(tmp_path / "other"), *CHOICES])
    assert created.exit_code == errors.GitFailed.exit_code, created.output
    line = one_line(created)
    assert "bad config" in line
    assert "please report" not in line
    assert not (tmp_path / "other").exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []

    updated = runner.invoke(app, ["update", str(project), "--defaults"])
    assert updated.exit_code == errors.GitFailed.exit_code, updated.output
    assert "bad config" in one_line(updated)
    assert snapshot(project) == before


# A full disk: a real tmpfs, too small for what the command writes


CLI = [sys.executable, "-m", "fastapi_scaffold"]


@needs_root
def test_new_on_a_full_disk_leaves_nothing_behind(tmp_path: Path) -> None:
    outcomes = []
    for size in ("96k", "160k", "224k", "320k", "480k", "2m"):
        with tmpfs(tmp_path / f"disk-{size}", size) as disk:
            result = subprocess.run(
                [*CLI, "new", str(disk / "svc"), *CHOICES],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "TMPDIR": str(disk)},
            )
            outcomes.append(result.returncode)
            if result.returncode == 0:
                assert (disk / "svc" / ".git").is_dir()
                assert git(disk / "svc", "status", "--porcelain").strip() == ""
                continue
            assert result.returncode == errors.OutOfSpace.exit_code, result.stderr
            assert "disk is full" in one_line(result)
            assert list(disk.iterdir()) == [], "a half-made project or staging folder is left"
    assert errors.OutOfSpace.exit_code in outcomes, outcomes
    assert outcomes[-1] == 0, outcomes


@needs_root
def test_update_on_a_full_disk_leaves_the_project_as_it_was(
    tmp_path: Path, template_repo: Path
) -> None:
    outcomes = []
    for free_kib in (16, 64, 160, 320, 8192):
        with tmpfs(tmp_path / f"disk-{free_kib}", "12m") as disk:
            project = disk / "svc"
            copier.run_copy(
                str(template_repo),
                project,
                data=ANSWERS,
                vcs_ref="v1.0.0",
                defaults=True,
                quiet=True,
            )
            git(project, "init", "--quiet")
            git(project, "add", "--all")
            git(project, "commit", "--quiet", "-m", "generated from A")
            (project / ".env").write_text("SECRET=1\n")
            before = snapshot(project)
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            ballast = max(free - free_kib * 1024, 0)
            (disk / "ballast").write_bytes(b"\0" * ballast)
            result = subprocess.run(
                [*CLI, "update", str(project), "--defaults", "--template", str(template_repo)],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "TMPDIR": str(disk)},
            )
            outcomes.append(result.returncode)
            if result.returncode == 0:
                assert "_commit: v2.0.0" in (project / ".copier-answers.yml").read_text()
                continue
            assert result.returncode == errors.OutOfSpace.exit_code, result.stderr
            assert "disk is full" in one_line(result)
            assert snapshot(project) == before
            assert git(project, "status", "--porcelain").strip() == ""
            assert sorted(path.name for path in disk.iterdir()) == ["ballast", "svc"]
    assert errors.OutOfSpace.exit_code in outcomes, outcomes
    assert outcomes[-1] == 0, outcomes
