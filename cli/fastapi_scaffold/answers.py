"""Answers: checked against copier.yml's questions before anything renders, and read back from a
project's .copier-answers.yml, which a user (or a merge) may have broken."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi_scaffold.errors import InvalidAnswer, NotAProject
from fastapi_scaffold.template import asked, asks, copier_config

ANSWERS_FILE = ".copier-answers.yml"


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


def read_answers(project: Path) -> dict[str, Any]:
    """The answers a project records, or one line saying why they cannot be read."""
    import yaml

    answers_file = project / ANSWERS_FILE
    if not answers_file.is_file():
        raise NotAProject(
            f"{project} has no {ANSWERS_FILE}",
            "run update in a project made by fastapi-scaffold new (or copier copy)",
        )
    restore = f"restore it from git (git checkout HEAD -- {ANSWERS_FILE}) or fix it by hand"
    try:
        text = answers_file.read_text(encoding="utf-8")
        recorded = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        raise NotAProject(f"{answers_file} is not text", restore) from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise NotAProject(f"{answers_file} is not valid YAML{line}", restore) from exc
    except OSError as exc:
        raise NotAProject(f"cannot read {answers_file}: {exc.strerror}", restore) from exc
    if not isinstance(recorded, dict):
        kind = "empty" if recorded is None else f"a {type(recorded).__name__}, not a mapping"
        raise NotAProject(f"{answers_file} is {kind}", restore)
    for key in ("_src_path", "_commit"):
        if not isinstance(recorded.get(key), str) or not recorded[key]:
            raise NotAProject(f"{answers_file} records no {key}", restore)
    return recorded


def validator_message(error: str) -> str:
    """copier says "Validation error for question 'x': <message>": keep the message."""
    _, separator, message = error.partition("': ")
    return message.strip() if separator else error
