"""The library behind the CLI: plain functions that the commands and the tests call.

`generate` renders into a temporary directory beside the destination and moves the result
into place only once the whole project rendered, so a failure or Ctrl-C leaves nothing behind.
"""

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi_scaffold import __version__, store
from fastapi_scaffold.errors import (
    DestinationError,
    GenerationFailed,
    Interrupted,
    InvalidAnswer,
    MissingAnswers,
    NotAProject,
    TemplateUnavailable,
    UpdateConflicts,
    UpdateRefused,
)
from fastapi_scaffold.template import asked, asks, copier_config, handler_style, template_dir

if TYPE_CHECKING:  # check is imported by update only when it runs
    from fastapi_scaffold.check import Report


def check_answers(answers: Mapping[str, str]) -> None:
    """Refuse keys that are not questions and values that are not among a question's choices."""
    known = asked()
    for key, value in answers.items():
        question = known.get(key)
        if question is None:
            raise InvalidAnswer(
                f"'{key}' is not a question of this template",
                f"use one of: {', '.join(known)}",
            )
        if question.choices and value not in question.choices:
            raise InvalidAnswer(
                f"'{value}' is not a choice for {key}",
                f"use one of: {', '.join(question.choices)}",
            )
    _refuse_answers_that_do_not_apply(answers)


def _refuse_answers_that_do_not_apply(answers: Mapping[str, str]) -> None:
    """An answer to a question copier would not ask (its `when:` false given the others, as
    `orm` without a database) would be dropped silently: refuse it instead."""
    config = copier_config()
    choices = {name: q for name, q in asked().items() if q.choices}
    given = {name: str(config[name].get("default", "")) for name in choices} | dict(answers)
    for key, value in answers.items():
        default = str(config[key].get("default", ""))
        if key in choices and value != default and not asks(key, given):
            others = ", ".join(f"{name}={given[name]}" for name in choices if name != key)
            raise InvalidAnswer(
                f"{key}={value} does not apply with {others}",
                f"drop it, or change the answer it depends on ({config[key]['when']})",
            )


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


def generate(
    destination: Path,
    answers: Mapping[str, str] | None = None,
    *,
    defaults: bool = False,
    interactive: bool = False,
    force: bool = False,
) -> Path:
    """Generate a project at `destination` and return its path.

    Unanswered questions take their defaults with `defaults`, are asked when `interactive`,
    and are otherwise an error naming them. The project name defaults to the directory's name.
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
    with _staging_dir(destination) as staging:
        _render(staging, data, defaults=defaults or not missing)
        _move_into_place(staging, destination)
    return destination


@dataclass(frozen=True)
class Repository:
    """What `init_repository` did: `committed` is False when it made no commit, or no
    repository; `message` says so in one line, with what to do."""

    committed: bool
    message: str


def init_repository(project: Path) -> Repository:
    """Put a new project under git with one commit of every generated file, as `cargo new`
    does, so that `update` works from the first day; never inside another work tree."""
    if shutil.which("git") is None:
        return Repository(False, "git is not installed: the project is not under git yet")
    enclosing = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=project.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if enclosing.returncode == 0:
        return Repository(
            False,
            f"{project} is inside the git work tree {enclosing.stdout.strip()}: no repository "
            "of its own was made; commit it there",
        )
    _git(project, "init", "--quiet")
    _git(project, "add", "--all")
    identity = subprocess.run(
        ["git", "var", "GIT_COMMITTER_IDENT"], cwd=project, check=False, capture_output=True
    )
    if identity.returncode != 0:
        return Repository(
            False,
            "made a git repository without a commit: git does not know who you are; run "
            "`git config --global user.name NAME` and `git config --global user.email EMAIL`, "
            "then `git commit -m 'Generated by fastapi-scaffold'`",
        )
    message = f"Generated by fastapi-scaffold {__version__}"
    commit = subprocess.run(
        ["git", "commit", "--quiet", "--message", message],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if commit.returncode != 0:  # a signing key or a hook of the user's refused, say
        reason = (commit.stderr.strip().splitlines() or ["no reason given"])[-1]
        return Repository(
            False,
            f"made a git repository without a commit: `git commit` failed ({reason}); "
            "commit the generated files yourself",
        )
    return Repository(True, "made a git repository with one commit of the generated files")


@dataclass(frozen=True)
class Update:
    """What an update did: the template versions it went from and to; when it changed the
    handler style, the styles and what `check` finds in the result (the user's own `async def`
    code may now call helpers that block)."""

    project: Path
    from_version: str
    to_version: str
    styles: tuple[str, str] | None = None
    check_report: "Report | None" = None


def update(
    project: Path,
    answers: Mapping[str, str] | None = None,
    *,
    defaults: bool = False,
    interactive: bool = False,
    pretend: bool = False,
    template: str | None = None,
) -> Update:
    """Bring a generated project to this installation's template version (or to the newest
    version of `template`, a git URL or repository), by copier's three-way update: the user's
    edits stay; files they never touched are regenerated, also when `answers` change them (a
    project may move from sync to async); a file both changed gets conflict markers.
    """
    project = project.expanduser().absolute()
    recorded = _recorded_answers(project)
    _check_clean_git_tree(project)
    data = dict(answers or {})
    check_answers(data)
    if not defaults and not interactive:
        raise MissingAnswers(
            "no terminal to ask on",
            "pass --defaults to keep the recorded answers (and --data to change some)",
        )
    if template is None:
        source, version = store.current_version()
        recorded_source = str(recorded.get("_src_path", ""))
        is_local = "://" not in recorded_source and not recorded_source.startswith("git@")
        if is_local and not Path(recorded_source).exists():
            raise TemplateUnavailable(
                f"the template {project.name} was made from ({recorded_source}) is not on "
                "this machine",
                f"pass --template with a git URL or repository holding its version "
                f"{recorded.get('_commit')}",
            )
        old_template = None
    else:
        source, version, old_template = Path(template), None, template
    from_version = str(recorded.get("_commit"))
    _run_update(project, str(source), version, old_template, data, defaults, pretend)
    if not pretend:
        conflicts = _git(project, "diff", "--name-only", "--diff-filter=U").splitlines()
        if conflicts:
            raise UpdateConflicts(conflicts)
    after = _recorded_answers(project)
    to_version = version or str(after.get("_commit"))
    styles = (_style_of(recorded), _style_of(after))
    if pretend or styles[0] == styles[1]:
        return Update(project, from_version, to_version)
    from fastapi_scaffold.check import check

    return Update(project, from_version, to_version, styles, check(project))


def _style_of(answers: Mapping[str, object]) -> str:
    return handler_style(str(answers.get("database")), str(answers.get("http_client")))


def _run_update(
    project: Path,
    source: str,
    version: str | None,
    old_template: str | None,
    data: dict[str, str],
    defaults: bool,
    pretend: bool,
) -> None:
    import copier

    # copier's public run_update() cannot take the template source from elsewhere than the
    # answers file; its Worker can (copier is pinned below 10, and tests/test_update.py
    # covers this use).
    from copier._main import Worker
    from copier._template import Template

    try:
        with Worker(
            src_path=source,
            dst_path=project,
            data=data,
            vcs_ref=version,
            defaults=defaults,
            overwrite=True,
            pretend=pretend,
            quiet=not pretend,
            unsafe=True,  # the template's own _migrations; it is this tool's template
        ) as worker:
            if old_template is not None:
                # copier takes the old version from the recorded source; a --template given
                # here replaces that source for both versions.
                commit = worker.subproject.last_answers.get("_commit")
                worker.subproject.__dict__["template"] = Template(url=old_template, ref=commit)
            worker.run_update()
    except (KeyboardInterrupt, copier.errors.CopierAnswersInterrupt) as exc:
        raise Interrupted("interrupted", "check `git status` and `git stash` what it left") from exc
    except copier.errors.UserMessageError as exc:
        raise UpdateRefused(str(exc).rstrip("."), "nothing was changed") from exc
    except ValueError as exc:
        raise InvalidAnswer(_validator_message(str(exc)), "nothing was changed") from exc


def _recorded_answers(project: Path) -> dict[str, object]:
    import yaml

    answers_file = project / ".copier-answers.yml"
    if not answers_file.is_file():
        raise NotAProject(
            f"{project} has no .copier-answers.yml",
            "run update in a project made by fastapi-scaffold new (or copier copy)",
        )
    recorded: dict[str, object] = yaml.safe_load(answers_file.read_text()) or {}
    return recorded


def _check_clean_git_tree(project: Path) -> None:
    try:
        _git(project, "rev-parse", "--is-inside-work-tree")
    except subprocess.CalledProcessError as exc:
        raise UpdateRefused(
            f"{project} is not under git",
            "commit it to git first (git init && git add -A && git commit), so that the "
            "update can be reviewed and undone",
        ) from exc
    if _git(project, "status", "--porcelain"):
        raise UpdateRefused(
            f"{project} has uncommitted changes", "commit or stash them, then update"
        )


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def _render(target: Path, data: dict[str, str], *, defaults: bool) -> None:
    import copier

    chatter = io.StringIO()  # copier's notes on git refs; shown only if rendering fails
    try:
        if shutil.which("git") is None:  # no store without git: the template as installed
            source, version = template_dir(), None
        else:
            source, version = store.current_version()
        with warnings.catch_warnings(), contextlib.redirect_stderr(chatter):
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
        raise Interrupted("interrupted", "nothing was written") from exc
    except ValueError as exc:
        raise InvalidAnswer(_validator_message(str(exc)), "nothing was written") from exc
    except Exception as exc:
        sys.stderr.write(chatter.getvalue())
        raise GenerationFailed(
            f"the template failed to render ({type(exc).__name__}: {exc})",
            "nothing was written; please report this with the command you ran",
        ) from exc


def _validator_message(error: str) -> str:
    """copier says "Validation error for question 'x': <message>": keep the message."""
    _, separator, message = error.partition("': ")
    return message.strip() if separator else error


@contextlib.contextmanager
def _staging_dir(destination: Path) -> Iterator[Path]:
    """A temporary directory on the destination's file system, removed whatever happens."""
    parent = _nearest_existing(destination)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=parent))
    try:
        yield staging / "project"
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.is_dir() and not any(destination.iterdir()):
        destination.rmdir()
    if not destination.exists():
        staging.rename(destination)
    else:  # --force into a non-empty directory: the generated files win
        shutil.copytree(staging, destination, dirs_exist_ok=True)


def _nearest_existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path
