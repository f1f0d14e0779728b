"""The library behind the CLI: plain functions that the commands and the tests call.

`generate` renders into a temporary directory beside the destination and moves the result
into place only once the whole project rendered, so a failure or Ctrl-C leaves nothing behind.
"""

import contextlib
import io
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

from fastapi_scaffold.errors import (
    DestinationError,
    GenerationFailed,
    Interrupted,
    InvalidAnswer,
    MissingAnswers,
)
from fastapi_scaffold.template import asked, template_dir


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
    missing = [name for name in asked() if name not in data]
    if missing and not defaults and not interactive:
        raise MissingAnswers(
            f"no terminal to ask on, and no answer for: {', '.join(missing)}",
            "pass them with --data KEY=VALUE, or use --defaults",
        )
    with _staging_dir(destination) as staging:
        _render(staging, data, defaults=defaults or not missing)
        _move_into_place(staging, destination)
    return destination


def _render(target: Path, data: dict[str, str], *, defaults: bool) -> None:
    import copier

    chatter = io.StringIO()  # copier's notes on git refs; shown only if rendering fails
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(chatter):
            warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
            copier.run_copy(
                str(template_dir()),
                target,
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
