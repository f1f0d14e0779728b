"""`update` never loses the user's work and never runs commands nobody trusted: it lands whole
or not at all, whatever stops it (a signal, a full disk, an error at any write), it never
writes over files git does not track, and it keeps what the user edited."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fastapi_scaffold import api, transaction
from fastapi_scaffold.cli import app
from fastapi_scaffold.errors import (
    Interrupted,
    OutOfSpace,
    UntrustedTemplate,
    UpdateConflicts,
    UpdateRefused,
)
from tests.update_fixtures import USER_HEALTH_DOC, git, snapshot

runner = CliRunner()


def with_local_files(project: Path) -> None:
    """What a developer has beside the committed files: an ignored .env, an untracked draft."""
    (project / ".env").write_text("DATABASE_URL=postgresql://me:secret@localhost/dev\n")
    (project / "draft.py").write_text("# not committed yet\n")


def updated_copy(project: Path, template: Path, tmp_path: Path) -> dict[str, bytes]:
    """The tree the update gives when nothing stops it, made on a copy of `project`."""
    copy = tmp_path / "reference" / project.name
    shutil.copytree(project, copy, symlinks=True)
    api.update(copy, defaults=True, template=str(template))
    return snapshot(copy)


def add_version(template: Path, tag: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        (template / "template" / name).write_text(text)
        git(template, "add", "--force", "--", f"template/{name}")  # .env is git-ignored
    git(template, "add", "--all")
    git(template, "commit", "--quiet", "-m", tag)
    git(template, "tag", tag)


# Trust


def release_a_task(template: Path, tmp_path: Path) -> Path:
    """Version 3 runs a command on update: it creates the file this returns."""
    pwned = tmp_path / "pwned"
    config = template / "copier.yml"
    config.write_text(config.read_text() + f'_tasks:\n  - "touch {pwned}"\n')
    add_version(template, "v3.0.0", {})
    return pwned


def test_a_template_that_is_not_the_tools_own_runs_no_command_without_trust(
    project_from_a: Path, template_repo: Path, tmp_path: Path
) -> None:
    pwned = release_a_task(template_repo, tmp_path)
    before = snapshot(project_from_a)

    result = runner.invoke(
        app, ["update", str(project_from_a), "--defaults", "--template", str(template_repo)]
    )
    assert result.exit_code == UntrustedTemplate.exit_code, result.output
    [line] = result.stderr.strip().splitlines()
    assert str(template_repo) in line
    assert "--trust" in line
    assert not pwned.exists()
    assert snapshot(project_from_a) == before

    trusted = runner.invoke(
        app,
        ["update", str(project_from_a), "--defaults", "--template", str(template_repo), "--trust"],
    )
    assert trusted.exit_code == 0, trusted.output
    assert pwned.exists(), "with --trust, the template's task runs"


def test_an_answers_file_pointing_elsewhere_runs_nothing_on_a_plain_update(
    project_from_a: Path, template_repo: Path, tmp_path: Path
) -> None:
    """A project cloned from someone else: its answers file names their template."""
    pwned = release_a_task(template_repo, tmp_path)
    before = snapshot(project_from_a)
    result = runner.invoke(app, ["update", str(project_from_a), "--defaults"])
    assert result.exit_code == UntrustedTemplate.exit_code, result.output
    assert str(template_repo) in result.stderr
    assert not pwned.exists()
    assert snapshot(project_from_a) == before


# Files git does not track


def test_untracked_files_are_never_overwritten_whatever_git_status_shows(
    project_from_a: Path, template_repo: Path
) -> None:
    git(project_from_a, "config", "status.showUntrackedFiles", "no")
    add_version(template_repo, "v3.0.0", {"NOTES.md": "Notes from version 3.\n"})
    (project_from_a / "NOTES.md").write_text("my draft, never committed\n")
    before = snapshot(project_from_a)
    result = runner.invoke(
        app, ["update", str(project_from_a), "--defaults", "--template", str(template_repo)]
    )
    assert result.exit_code == UpdateRefused.exit_code, result.output
    [line] = result.stderr.strip().splitlines()
    assert "NOTES.md" in line
    assert snapshot(project_from_a) == before


def test_an_ignored_env_file_at_a_path_the_template_adds_is_kept(
    project_from_a: Path, template_repo: Path
) -> None:
    add_version(template_repo, "v3.0.0", {".env": "FROM_THE_TEMPLATE=1\n"})
    (project_from_a / ".env").write_text("SECRET=mine\n")
    assert git(project_from_a, "status", "--porcelain") == ""  # ignored
    before = snapshot(project_from_a)
    result = runner.invoke(
        app, ["update", str(project_from_a), "--defaults", "--template", str(template_repo)]
    )
    assert result.exit_code == UpdateRefused.exit_code, result.output
    assert ".env" in result.stderr
    assert snapshot(project_from_a) == before


def test_a_conflict_under_show_untracked_no_is_reported_not_hidden(
    project_from_a: Path, template_repo: Path
) -> None:
    git(project_from_a, "config", "status.showUntrackedFiles", "no")
    health = project_from_a / "svc" / "routes" / "health.py"
    lines = health.read_text().splitlines()
    health.write_text("\n".join([USER_HEALTH_DOC, *lines[1:]]) + "\n")
    git(project_from_a, "commit", "--quiet", "--all", "-m", "user rewords health")
    result = runner.invoke(
        app, ["update", str(project_from_a), "--defaults", "--template", str(template_repo)]
    )
    assert result.exit_code == UpdateConflicts.exit_code, result.output
    assert "<<<<<<<" in health.read_text()
    assert USER_HEALTH_DOC in health.read_text()
    assert not list(project_from_a.rglob("*.rej"))


# Conflicts: the commands the message gives finish or abort the update


def conflicting_update(project: Path, template: Path) -> tuple[UpdateConflicts, dict[str, bytes]]:
    """Reword the health route (a conflict with version B) and edit db.py, which the switch to
    `database=none` removes; return the error and the tree before the update."""
    health = project / "svc" / "routes" / "health.py"
    lines = health.read_text().splitlines()
    health.write_text("\n".join([USER_HEALTH_DOC, *lines[1:]]) + "\n")
    db = project / "svc" / "db.py"
    db.write_text(db.read_text() + "\n# tuned by the user\n")
    git(project, "commit", "--quiet", "--all", "-m", "user edits")
    with_local_files(project)
    before = snapshot(project)
    with pytest.raises(UpdateConflicts) as raised:
        api.update(project, {"database": "none"}, defaults=True, template=str(template))
    return raised.value, before


def test_a_user_edited_file_the_new_answers_remove_is_kept_as_a_conflict(
    project_from_a: Path, template_repo: Path
) -> None:
    error, _ = conflicting_update(project_from_a, template_repo)
    assert {"svc/routes/health.py", "svc/db.py"} <= set(error.files)
    assert "# tuned by the user" in (project_from_a / "svc" / "db.py").read_text()
    status = git(project_from_a, "status", "--porcelain")
    assert "UU svc/routes/health.py" in status
    assert "UD svc/db.py" in status  # "deleted by them"
    assert not (project_from_a / "svc" / "migrate.py").exists()  # untouched: removed


def test_the_abort_commands_restore_the_tree_exactly(
    project_from_a: Path, template_repo: Path
) -> None:
    error, before = conflicting_update(project_from_a, template_repo)
    subprocess.run(error.abort, shell=True, cwd=project_from_a, check=True, capture_output=True)
    assert snapshot(project_from_a) == before
    assert git(project_from_a, "status", "--porcelain").strip() == "?? draft.py"


def test_the_finish_commands_finish_the_update(project_from_a: Path, template_repo: Path) -> None:
    error, _ = conflicting_update(project_from_a, template_repo)
    for name in error.files:  # resolved by keeping both sides
        path = project_from_a / name
        markers = ("<<<<<<<", "=======", ">>>>>>>")
        kept = [line for line in path.read_text().splitlines() if not line.startswith(markers)]
        path.write_text("\n".join(kept) + "\n")
    finish = error.finish.replace("<files>", " ".join(error.files))
    subprocess.run(
        ["bash", "-c", finish.replace("git commit", "git commit --quiet -m update")],
        cwd=project_from_a,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        },
    )
    assert git(project_from_a, "status", "--porcelain").strip() == "?? draft.py"
    assert "database: none" in (project_from_a / ".copier-answers.yml").read_text()


# Failures at every step


def test_a_failure_at_any_file_move_leaves_the_tree_as_it_was(
    project_from_a: Path, template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk at the first, second, middle and last renames, then at the index update."""
    with_local_files(project_from_a)
    before = snapshot(project_from_a)
    rename = transaction._rename
    moves = 0

    def counting(source: object, target: object) -> None:
        nonlocal moves
        moves += 1
        rename(source, target)  # type: ignore[arg-type]

    # The update on a copy, its moves counted: the tree it gives is the one to end with.
    monkeypatch.setattr(transaction, "_rename", counting)
    after = updated_copy(project_from_a, template_repo, tmp_path)
    assert moves > 3

    for failing in [1, 2, moves // 2, moves - 1, moves, None]:
        calls = 0

        def failing_rename(source: object, target: object, failing: int | None = failing) -> None:
            nonlocal calls
            calls += 1
            if calls == failing:
                raise OSError(28, "No space left on device", str(target))
            rename(source, target)  # type: ignore[arg-type]

        def failing_index(*args: object) -> None:
            raise OSError(28, "No space left on device", "index")

        monkeypatch.setattr(transaction, "_rename", failing_rename)
        if failing is None:
            monkeypatch.setattr("fastapi_scaffold.update._write_index", failing_index)
        with pytest.raises(OutOfSpace):
            api.update(project_from_a, defaults=True, template=str(template_repo))
        assert snapshot(project_from_a) == before, f"failing at move {failing}"
        assert git(project_from_a, "status", "--porcelain").strip() == "?? draft.py"
        assert not (project_from_a / ".git" / "fastapi-scaffold-update").exists()
    monkeypatch.undo()
    api.update(project_from_a, defaults=True, template=str(template_repo))
    assert snapshot(project_from_a) == after


# The CLI stopped by a real signal at each step: it touches $PAUSED_FILE and waits at the step
# named by $PAUSE_AT (until $RESUME_FILE exists, 60 s at most), where the test signals it.
PAUSING_UPDATE = """
import os, sys, time
from pathlib import Path
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
from copier._main import Worker
from fastapi_scaffold import transaction, update

def pause():
    Path(os.environ["PAUSED_FILE"]).touch()
    deadline = time.monotonic() + 60
    while not Path(os.environ["RESUME_FILE"]).exists() and time.monotonic() < deadline:
        time.sleep(0.01)

def pausing(owner, name, at):
    original = getattr(owner, name)
    calls = 0
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == at:
            pause()
        return original(*args, **kwargs)
    setattr(owner, name, wrapper)

step = os.environ["PAUSE_AT"]
if step == "render":
    pausing(Worker, "_render_file", 20)
elif step == "plan":
    pausing(update, "_stage", 3)
elif step == "move":
    pausing(transaction.Transaction, "_move", 3)
from fastapi_scaffold.cli import main
sys.argv[0] = "fastapi-scaffold"
main()
"""


def paused_update(
    project: Path, template: Path, step: str, workspace: Path
) -> subprocess.Popen[str]:
    paused = workspace / "paused"
    env = {
        **os.environ,
        "PAUSED_FILE": str(paused),
        "RESUME_FILE": str(workspace / "resume"),
        "PAUSE_AT": step,
        "TMPDIR": str(workspace / "tmp"),
    }
    (workspace / "tmp").mkdir()
    cli = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PAUSING_UPDATE,
            "update",
            str(project),
            "--defaults",
            "--template",
            str(template),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not paused.exists():
        assert cli.poll() is None, cli.communicate()
        assert time.monotonic() < deadline, "the update never reached its pause"
        time.sleep(0.05)
    return cli


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
@pytest.mark.parametrize("step", ["render", "plan", "move"])
def test_a_signal_at_any_step_leaves_the_tree_before_or_after_and_says_which(
    project_from_a: Path,
    template_repo: Path,
    tmp_path: Path,
    step: str,
    signal_number: signal.Signals,
) -> None:
    with_local_files(project_from_a)
    # What the update makes is needed only where it lands (the move step): an update costs.
    after = updated_copy(project_from_a, template_repo, tmp_path) if step == "move" else None
    before = snapshot(project_from_a)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    beside = sorted(path.name for path in project_from_a.parent.iterdir())
    cli = paused_update(project_from_a, template_repo, step, workspace)
    cli.send_signal(signal_number)
    # Pending from now on: delivered before the CLI can see the file, or, held while files
    # move, once they have moved.
    (workspace / "resume").touch()
    stdout, stderr = cli.communicate(timeout=120)
    assert cli.returncode == Interrupted.exit_code, stdout + stderr
    assert "Traceback" not in stdout + stderr
    [line] = stderr.strip().splitlines()
    if step == "move":  # signals are held while files move: it lands whole
        assert "it is applied" in line
        assert snapshot(project_from_a) == after
    else:
        assert "before the update was applied" in line
        assert snapshot(project_from_a) == before
        assert git(project_from_a, "status", "--porcelain").strip() == "?? draft.py"
    assert list((workspace / "tmp").iterdir()) == [], "temporary files left in TMPDIR"
    assert sorted(path.name for path in project_from_a.parent.iterdir()) == beside
    assert not (project_from_a / ".git" / "fastapi-scaffold-update").exists()


def test_an_update_killed_mid_move_is_undone_by_the_next_one(
    project_from_a: Path, template_repo: Path, tmp_path: Path
) -> None:
    with_local_files(project_from_a)
    after = updated_copy(project_from_a, template_repo, tmp_path)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    cli = paused_update(project_from_a, template_repo, "move", workspace)
    cli.kill()
    cli.communicate(timeout=60)
    result = runner.invoke(
        app, ["update", str(project_from_a), "--defaults", "--template", str(template_repo)]
    )
    assert result.exit_code == 0, result.output
    assert "stopped half-way; it was undone first" in result.stdout
    assert snapshot(project_from_a) == after
