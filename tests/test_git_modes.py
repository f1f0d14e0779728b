"""copier asks git for `core.fileMode` once per render within `file_mode_asked_once()`, and
still mirrors executable bits into the index where git ignores modes."""

import os
import subprocess
import sys
from pathlib import Path

import copier
from copier._main import Worker

from fastapi_scaffold.git_modes import file_mode_asked_once
from tests.served import BIN
from tests.update_fixtures import git

ASKED = "config --type=bool --get core.fileMode"


def tiny_template(root: Path, files: dict[str, str]) -> Path:
    """A template of its own in a git repository: `files`, with run.sh executable."""
    root.mkdir()
    (root / "copier.yml").write_text("_templates_suffix: .jinja\n")
    for name, text in files.items():
        (root / name).write_text(text)
    os.chmod(root / "run.sh", 0o755)
    git(root, "init", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "t")
    return root


RENDER = """
import contextlib, sys
import copier
from fastapi_scaffold.git_modes import file_mode_asked_once
block = file_mode_asked_once() if sys.argv[3] == "block" else contextlib.nullcontext()
with block:
    copier.run_copy(sys.argv[1], sys.argv[2], quiet=True, overwrite=True, vcs_ref="HEAD")
"""


def asked(command: list[str], trace: Path) -> int:
    """Run `command` with git tracing on: how often git was asked for core.fileMode."""
    subprocess.run(command, env={**os.environ, "GIT_TRACE": str(trace)}, check=True)
    return trace.read_text().count(ASKED)


def test_a_render_asks_once_not_once_per_file(tmp_path: Path) -> None:
    files = {f"file{number}.txt": f"{number}\n" for number in range(5)} | {"run.sh": "true\n"}
    template = tiny_template(tmp_path / "template", files)
    render = [sys.executable, "-c", RENDER, str(template)]
    assert asked([*render, str(tmp_path / "once"), "block"], tmp_path / "once.trace") == 1
    # Outside the block, copier asks for each file: the count above is this change's.
    each = asked([*render, str(tmp_path / "each"), "plain"], tmp_path / "each.trace")
    assert each == len(files)


def test_new_asks_once(tmp_path: Path) -> None:
    """`new` renders inside the block: one question for the whole project."""
    command = [str(BIN / "fastapi-scaffold"), "new", str(tmp_path / "svc"), "--defaults"]
    assert asked([*command, "--no-lock"], tmp_path / "trace") == 1


def test_where_git_ignores_modes_the_executable_bit_still_reaches_the_index(
    tmp_path: Path,
) -> None:
    template = tiny_template(tmp_path / "template", {"run.sh": "true\n"})
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "--quiet")
    git(project, "config", "core.fileMode", "false")
    (project / "run.sh").write_text("false\n")
    git(project, "add", "run.sh")
    assert git(project, "ls-files", "--stage", "run.sh").startswith("100644")
    with file_mode_asked_once():
        copier.run_copy(str(template), project, quiet=True, overwrite=True, vcs_ref="HEAD")
    assert git(project, "ls-files", "--stage", "run.sh").startswith("100755")


def test_blocks_replace_one_another_and_leave_copier_as_it_was() -> None:
    before = Worker._sync_git_index_executable_bit  # the run's own block's (conftest)
    with file_mode_asked_once():
        outer = Worker._sync_git_index_executable_bit
        with file_mode_asked_once():
            inner = Worker._sync_git_index_executable_bit
            assert inner.__closure__ is not None
            assert outer not in [cell.cell_contents for cell in inner.__closure__]
        assert Worker._sync_git_index_executable_bit is outer
    assert Worker._sync_git_index_executable_bit is before


def test_update_asks_once_per_render(
    project_from_a: Path, template_repo: Path, tmp_path: Path
) -> None:
    """`update` renders the project's recorded version and the new one (and, when the answers
    change, a fresh one): a question for each, not for each of their files."""
    command = [str(BIN / "fastapi-scaffold"), "update", str(project_from_a), "--defaults"]
    command += ["--template", str(template_repo), "--no-lock"]
    assert asked(command, tmp_path / "trace") <= 3
