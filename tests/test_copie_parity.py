"""pytest-copie and the CLI are two ways into one template: pytest-copie passes answers as
copier's `user_defaults` with `defaults=True`, the CLI as `data`. Both must drive every
question alike; where they differ (README: "pytest-copie and the CLI"), it is pinned here."""

from pathlib import Path

import pytest
import yaml
from pytest_copie.plugin import Copie

from fastapi_scaffold import api
from fastapi_scaffold.errors import InvalidAnswer
from fastapi_scaffold.template import asked, questions
from tests.projects import copy_template, tree

# A value other than the default for every question a user answers.
ANSWERS = {
    "project_name": "Parity Check",
    "package_name": "parity_pkg",
    "description": "Two ways in, one project",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.org",
    "database": "psycopg2",
    "orm": "sqlalchemy",
    "http_client": "requests",
    "cpu_work": "process",
}
# Where the project came from: the checkout at HEAD for pytest-copie, the template store at the
# tool's version tag for the CLI. Everything else in the answers file is the same.
SOURCE_KEYS = {"_src_path", "_commit"}


def recorded(project: Path) -> dict[str, str]:
    answers: dict[str, str] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return {key: value for key, value in answers.items() if key not in SOURCE_KEYS}


def test_the_answers_cover_every_question_with_a_non_default() -> None:
    assert set(ANSWERS) == set(asked())
    for name in ("database", "orm", "http_client", "cpu_work"):
        assert ANSWERS[name] in questions()[name].choices


def test_both_paths_render_the_same_project(copie: Copie, tmp_path: Path) -> None:
    through_copie = copy_template(copie, ANSWERS)
    through_cli = api.generate(tmp_path / "cli", ANSWERS, defaults=True)
    assert recorded(through_copie) == recorded(through_cli) == ANSWERS
    assert tree(through_copie) == tree(through_cli)


def test_a_refused_answer_is_refused_on_both_paths(copie: Copie, tmp_path: Path) -> None:
    """Validators and choices apply to user_defaults too."""
    for bad in ({"package_name": "class"}, {"database": "mysql"}):
        result = copie.copy(extra_answers={"project_name": "bad", **bad})
        assert result.exit_code == -1
        assert isinstance(result.exception, ValueError)
        with pytest.raises(InvalidAnswer):
            api.generate(tmp_path / "bad", {"project_name": "bad", **bad}, defaults=True)


def test_where_the_paths_differ(copie: Copie, tmp_path: Path) -> None:
    # An unknown question: copier ignores a user default it has no question for; the CLI
    # refuses it, since it is most likely a typo.
    typo = copie.copy(extra_answers={"project_name": "typo", "databse": "asyncpg"})
    assert typo.exit_code == 0
    assert typo.answers["database"] == "asyncpg"  # the default, not what was meant
    with pytest.raises(InvalidAnswer, match="'databse' is not a question"):
        api.generate(tmp_path / "typo", {"databse": "psycopg2"}, defaults=True)

    # project_name: the CLI takes the destination's name; copier has no default for it.
    unnamed = copie.copy(extra_answers={})
    assert unnamed.exit_code == -1
    assert 'Question "project_name" is required' in str(unnamed.exception)
    assert recorded(api.generate(tmp_path / "named", {}, defaults=True))["project_name"] == "named"

    # The source: pytest-copie records this checkout; the CLI, its template store.
    answers = yaml.safe_load((copy_template(copie, {}) / ".copier-answers.yml").read_text())
    assert Path(answers["_src_path"]).resolve() == Path(__file__).resolve().parents[1]
