"""The library behind the CLI: plain functions that the commands and the tests call.

`new` renders into a temporary directory beside the destination, makes it a git repository
there, and moves the result into place only once all of it worked, so a failure, Ctrl-C or a
full disk leaves nothing behind. `update` lives in `fastapi_scaffold.update`.
"""

import contextlib
import io
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi_scaffold import __version__, store
from fastapi_scaffold.answers import check_answers, validator_message
from fastapi_scaffold.errors import (
    DestinationError,
    GenerationFailed,
    GitFailed,
    Interrupted,
    InvalidAnswer,
    MissingAnswers,
    OutOfSpace,
    from_os_error,
)
from fastapi_scaffold.gitcmd import (
    git,
    git_bytes,
    git_error,
    nearly_full,
    subcommand,
    succeeds,
)
from fastapi_scaffold.lock import Locked
from fastapi_scaffold.lock import lock as uv_lock
from fastapi_scaffold.template import asked, asks, template_dir
from fastapi_scaffold.transaction import Change, Transaction, remove_tree, temporary_files_in
from fastapi_scaffold.update import ABORT, Update, update

__all__ = [
    "ABORT",
    "Created",
    "Locked",
    "Repository",
    "Update",
    "check_answers",
    "generate",
    "new",
    "update",
]


def check_destination(destination: Path, *, force: bool) -> None:
    if destination.exists() and not destination.is_dir():
        raise DestinationError(
            f"{destination} is a file, not a directory", "choose a new or empty directory"
        )
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise DestinationError(
            f"{destination} is not empty",
            "choose a new or empty directory, or pass --force to write into it",
        )
    parent = _nearest_existing(destination)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DestinationError(
            f"cannot write in {parent}", "choose a destination in a directory you can write to"
        )


@dataclass(frozen=True)
class Repository:
    """What `new` did with git: `committed` is False when it made no commit, or no repository;
    `message` says what it did in one line, with what to do next."""

    committed: bool
    message: str


@dataclass(frozen=True)
class Created:
    project: Path
    repository: Repository | None
    locked: Locked | None = None  # None: not asked to lock


def generate(
    destination: Path,
    answers: Mapping[str, str] | None = None,
    *,
    defaults: bool = False,
    interactive: bool = False,
    force: bool = False,
    lock: bool = False,
) -> Path:
    """`new` without git, and by default without uv.lock: generate a project at
    `destination` and return its path."""
    return new(
        destination,
        answers,
        defaults=defaults,
        interactive=interactive,
        force=force,
        git=False,
        lock=lock,
    ).project


def new(
    destination: Path,
    answers: Mapping[str, str] | None = None,
    *,
    defaults: bool = False,
    interactive: bool = False,
    force: bool = False,
    git: bool = True,
    lock: bool = True,
) -> Created:
    """Generate a project at `destination`, with `lock` its uv.lock, and with `git` as a
    repository with one commit (the lock in it).

    Unanswered questions take their defaults with `defaults`, are asked when `interactive`,
    and are otherwise an error naming them. The project name defaults to the directory's name.
    All of it lands, or nothing: an interrupt, a full disk or a git failure leaves the
    destination as it was. A lock that cannot be written (no package index) does not stop it:
    `Created.locked` says why.
    """
    destination = destination.expanduser().absolute()
    data = {"project_name": destination.name, **(answers or {})}
    check_answers(data)
    check_destination(destination, force=force)
    missing = [name for name in asked() if name not in data and asks(name, data)]
    if missing and not defaults and not interactive:
        raise MissingAnswers(
            f"no terminal to ask on, and no answer for: {', '.join(missing)}",
            "pass them with --data KEY=VALUE, or use --defaults",
        )
    use_git = git and shutil.which("git") is not None
    staging = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}-", dir=_nearest_existing(destination))
    )
    try:
        with temporary_files_in(staging / "tmp"):
            rendered = staging / "project"
            _render(rendered, data, defaults=defaults or not missing)
            locked = uv_lock(rendered, named=destination) if lock else None
            enclosing = _work_tree_of(destination) if use_git else None
            into_existing = destination.is_dir() and any(destination.iterdir())
            repository = None
            if use_git and enclosing is None and not into_existing:
                repository = _init_repository(rendered, paths=None)
            if into_existing:
                repository = _write_into(destination, rendered, staging, enclosing, use_git)
            else:
                _move_into_place(rendered, destination)
    except KeyboardInterrupt as exc:
        raise Interrupted("interrupted", "nothing was written") from exc
    except OSError as exc:
        raise from_os_error(exc, "nothing was written") from exc
    except GitFailed as exc:
        if nearly_full(staging):
            raise OutOfSpace(
                f"the disk is full ({exc.problem})", "free some space; nothing was written"
            ) from exc
        raise
    finally:
        remove_tree(staging)
    if not git:
        return Created(destination, None, locked)
    if shutil.which("git") is None:
        return Created(
            destination,
            Repository(False, "git is not installed: the project is not under git yet"),
            locked,
        )
    if repository is None and enclosing is not None:
        repository = Repository(
            False,
            f"{destination} is inside the git work tree {enclosing}: no repository of its own "
            "was made; commit it there",
        )
    return Created(destination, repository, locked)


def _work_tree_of(path: Path) -> Path | None:
    """The git work tree `path` (or its nearest existing parent) is in, if any."""
    where = _nearest_existing(path)
    if not succeeds(where, "rev-parse", "--is-inside-work-tree"):
        return None
    return Path(git(where, "rev-parse", "--show-toplevel"))


def _init_repository(project: Path, paths: list[str] | None) -> Repository:
    """Put a new project under git with one commit of the files it generated, as `cargo new`
    does, so that `update` works from the first day."""
    try:
        git(project, "init", "--quiet")
        git(project, "add", "--all", "--", *(paths or ["."]))
        if not succeeds(project, "var", "GIT_COMMITTER_IDENT"):
            return Repository(
                False,
                "made a git repository without a commit: git does not know who you are; run "
                "`git config --global user.name NAME` and `git config --global user.email "
                "EMAIL`, then `git commit -m 'Generated by fastapi-scaffold'`",
            )
        git(
            project,
            "commit",
            "--quiet",
            "--message",
            f"Generated by fastapi-scaffold {__version__}",
        )
    except GitFailed as exc:
        raise GitFailed(exc.problem, "fix it, or pass --no-git; nothing was written") from exc
    except OutOfSpace as exc:
        raise OutOfSpace(exc.problem, "free some space; nothing was written") from exc
    return Repository(True, "made a git repository with one commit of the generated files")


def _write_into(
    destination: Path, rendered: Path, staging: Path, enclosing: Path | None, use_git: bool
) -> Repository | None:
    """`--force` into a non-empty directory: the generated files are moved in at once (the
    ones they replace restored if anything fails). In a git work tree, files with changes git
    does not have (edited, staged, untracked, ignored) are never overwritten, and the generated
    files are staged, not committed."""
    paths = sorted(
        str(path.relative_to(rendered)) for path in rendered.rglob("*") if not path.is_dir()
    )
    top = enclosing
    if top is not None:
        _refuse_overwriting_uncommitted(top, destination, paths)
    changes = [Change(path, rendered / path) for path in paths]
    Transaction(destination, staging / "transaction").apply(changes)
    if top is not None:
        git(top, "add", "--", *(str(destination / path) for path in paths))
        return Repository(
            False,
            f"staged the {len(paths)} generated files in the git repository {top}; nothing "
            "was committed: review them with `git diff --staged`, then commit",
        )
    if not use_git:
        return None
    return _init_repository(destination, paths)


def _refuse_overwriting_uncommitted(top: Path, destination: Path, paths: list[str]) -> None:
    existing = [str(destination / path) for path in paths if os.path.lexists(destination / path)]
    if not existing:
        return
    status = git_bytes(
        top,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=matching",
        "--",
        *existing,
    )
    dirty = [entry[3:].decode(errors="replace") for entry in status.split(b"\0") if entry]
    if dirty:
        raise DestinationError(
            f"--force would overwrite files with changes git does not have: {', '.join(dirty)}",
            "commit them (or move them away), then run new again; nothing was written",
        )


def _render(target: Path, data: dict[str, str], *, defaults: bool) -> None:
    import copier
    from plumbum import ProcessExecutionError

    from fastapi_scaffold.compiled import compiled_templates
    from fastapi_scaffold.git_modes import file_mode_asked_once

    chatter = io.StringIO()  # copier's notes on git refs; shown only if rendering fails
    if shutil.which("git") is None:  # no store without git: the template as installed
        source, version = template_dir(), None
    else:
        source, version = store.current_version()
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stderr(chatter),
            compiled_templates(),
            file_mode_asked_once(),
        ):
            warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
            copier.run_copy(
                str(source),
                target,
                vcs_ref=version,
                data=data,
                defaults=defaults,
                quiet=True,
                overwrite=True,
                cleanup_on_error=False,
            )
    except (KeyboardInterrupt, copier.errors.CopierAnswersInterrupt) as exc:
        raise KeyboardInterrupt from exc
    except ValueError as exc:
        raise InvalidAnswer(validator_message(str(exc)), "nothing was written") from exc
    except ProcessExecutionError as exc:  # git, cloning the store (a broken git config, say)
        error = git_error(subcommand(exc.argv), str(exc.stderr))
        raise type(error)(error.problem, "fix it; nothing was written") from exc
    except OSError:
        raise
    except Exception as exc:
        sys.stderr.write(chatter.getvalue())
        raise GenerationFailed(
            f"the template failed to render ({type(exc).__name__}: {exc})",
            "nothing was written; please report this with the command you ran",
        ) from exc


def _move_into_place(staging: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.is_dir():  # empty: checked before rendering
        destination.rmdir()
    staging.rename(destination)


def _nearest_existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path
