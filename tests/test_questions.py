"""copier.yml as a public interface: its question names, its handler-style table, its reserved
names, and plain `copier copy` working without fastapi-scaffold."""

import subprocess
import sys
from pathlib import Path

import yaml

from fastapi_scaffold.template import asked, copier_config, handler_style, questions, variants

ROOT = Path(__file__).resolve().parents[1]


def test_the_question_names_are_the_documented_interface() -> None:
    assert list(asked()) == [
        "project_name",
        "package_name",
        "description",
        "author_name",
        "author_email",
        "database",
        "orm",
        "http_client",
        "cpu_work",
    ]
    assert questions()["database"].choices == ("none", "psycopg2", "asyncpg")
    assert questions()["orm"].choices == ("none", "sqlalchemy")
    assert questions()["http_client"].choices == ("none", "requests", "httpx")
    assert questions()["cpu_work"].choices == ("none", "thread", "process", "celery")


def test_handler_style_follows_the_decision_table() -> None:
    blocking = {"psycopg2", "requests"}
    awaitable = {"asyncpg", "httpx"}
    for database in ("none", "psycopg2", "asyncpg"):
        for http_client in ("none", "requests", "httpx"):
            chosen = {database, http_client}
            if chosen & blocking and chosen & awaitable:
                expected = "mixed"
            elif chosen & blocking:
                expected = "sync"
            else:
                expected = "async"
            assert handler_style(database, http_client) == expected, (database, http_client)
    # orm is asked only with a database: 12 variants without one, 2 x 24 with one.
    assert len(variants()) == 60
    assert {v.orm for v in variants() if v.database == "none"} == {"none"}
    assert {v.handler_style for v in variants() if v.orm == "sqlalchemy"} == {
        "sync",
        "mixed",
        "async",
    }
    for variant in variants():
        assert variant.handler_style == handler_style(variant.database, variant.http_client)


def test_reserved_names_cover_the_standard_library() -> None:
    reserved = set(copier_config()["reserved_module_names"]["default"].split())
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert public <= reserved, f"add to copier.yml: {sorted(public - reserved)}"


def test_plain_copier_copy_generates_a_project(tmp_path: Path) -> None:
    copier = Path(sys.executable).parent / "copier"
    destination = tmp_path / "plain"
    command = [str(copier), "copy", "--defaults", "--vcs-ref", "HEAD", "--quiet"]
    command += [
        "-d",
        "project_name=Plain One",
        "-d",
        "database=psycopg2",
        "-d",
        "http_client=requests",
    ]
    result = subprocess.run(
        [*command, str(ROOT), str(destination)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "plain_one"
    assert answers["database"] == "psycopg2"
    assert "handler_style" not in answers  # computed, never recorded
    routes = (destination / "plain_one" / "routes" / "items.py").read_text()
    assert "\ndef create_item(" in routes
