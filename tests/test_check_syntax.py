"""`check` reads code written for a newer Python than the one running it (3.12 to 3.15 syntax),
finding the blocking calls in it at their lines and columns; a file it truly cannot read is
named on stderr, counted in the summary, and makes the exit code 17, in every format."""

import ast
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fastapi_scaffold.check import check
from fastapi_scaffold.check.newer_syntax import downgrade
from fastapi_scaffold.cli import app

runner = CliRunner()

MAIN = """\
from fastapi import FastAPI

from svc.routes import router

app = FastAPI()
app.include_router(router)
"""

# Every construct the interpreter running these tests (3.11) cannot parse, each on a path to a
# blocking call.
ROUTES = '''\
"""Routes written for Python 3.14."""

import subprocess
import time
from typing import Annotated

import requests
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

router = APIRouter()

type Seconds = float


def get_session() -> Session:
    return Session()


type SessionDep[T = int] = Annotated[Session, Depends(get_session)]


class Cache[K, V: (str, bytes) = str]:
    def load(self, key: K) -> V:
        return requests.get(f"http://cache/{key}", timeout=1).text


def pause[T](value: T, seconds: Seconds = 1.0) -> T:
    time.sleep(seconds)
    return value


def lazy_json() -> str:
    lazy import json
    return json.dumps({})


@router.get("/generic")
async def generic(key: str) -> str:
    return Cache().load(key)


@router.get("/alias")
async def alias(db: SessionDep) -> None:
    db.execute("SELECT 1")


@router.get("/except")
async def except_without_parens() -> None:
    try:
        lazy_json()
    except ValueError, KeyError:
        pause(1)


@router.get("/fstring")
async def nested_quotes(data: dict[str, str]) -> str:
    return f"{data["key"]} {pause(data["x"])}"


@router.get("/tstring")
async def template() -> object:
    if True: type Local = int
    return t"{subprocess.run(["ls"], check=False)!r:>{10}}"
'''


def where(source: str, text: str) -> tuple[int, int]:
    """The line and (1-based) column of the only occurrence of `text` in `source`."""
    assert source.count(text) == 1, text
    before = source[: source.index(text)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def write_project(root: Path) -> Path:
    package = root / "svc"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text(MAIN)
    (package / "routes.py").write_text(ROUTES)
    return root


def test_the_fixture_routes_need_a_newer_parser() -> None:
    """The premise: the running Python refuses the file (these tests run on 3.11)."""
    with pytest.raises(SyntaxError):
        ast.parse(ROUTES)


def test_newer_syntax_is_checked_with_exact_lines_and_columns(tmp_path: Path) -> None:
    report = check(write_project(tmp_path))
    assert report.errors == ()
    found = {
        (f.root.label, f.code, (f.call.line, f.call.column), tuple(s.call for s in f.chain))
        for f in report.findings
    }
    assert found == {
        (
            "GET /generic",
            "FSB101",
            where(ROUTES, "requests.get(f"),
            ("Cache().load", "requests.get"),
        ),
        ("GET /alias", "FSB204", where(ROUTES, 'db.execute("'), ("db.execute",)),
        ("GET /except", "FSB001", where(ROUTES, "time.sleep("), ("pause", "time.sleep")),
        ("GET /fstring", "FSB001", where(ROUTES, "time.sleep("), ("pause", "time.sleep")),
        ("GET /tstring", "FSB403", where(ROUTES, "subprocess.run("), ("subprocess.run",)),
    }
    steps = {f.root.label: f.chain[0] for f in report.findings}
    assert (steps["GET /fstring"].line, steps["GET /fstring"].column) == where(
        ROUTES, 'pause(data["x"])'
    )


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        ("type X[T] = list[T]\n", "X         = list[T]\n"),
        ("def f[T: int](x: T): pass\n", "def f        (x: T): pass\n"),
        ("class C[\n  T,\n](B): pass\n", "class C\\\n   \\\n (B): pass\n"),
        ("try: pass\nexcept A, B: pass\n", "try: pass\nexcept(A, B): pass\n"),
        ("try: pass\nexcept (A, B) as e: pass\n", "try: pass\nexcept (A, B) as e: pass\n"),
        ('x = f"{d["k"]!r:>{w}} {y=}"\n', 'x = (  d["k"],    w,   y, )\n'),
        ('x = (f"{a}"  # why\n     "b" t"{c,}")\n', "x = ((  a,   # why\n            c, ))\n"),
        ('x = f"é{a}"\n', "x = (    a,)\n"),  # é is two bytes wide, as ast counts columns
        ("lazy from os import path\n", "from      os import path\n"),
        ("if T: type X = int\n", "if T: X      = int\n"),
        ("y = type(x)\ntype = 3\n", "y = type(x)\ntype = 3\n"),
    ],
)
def test_each_newer_construct_is_rewritten_in_place(newer: str, older: str) -> None:
    assert downgrade(newer) == older
    ast.parse(older)


def test_a_file_that_cannot_be_read_is_named_counted_and_exits_17(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    (project / "svc" / "broken.py").write_text("def ok():\n    pass\n\ndef broken(:\n")
    report = check(project)
    assert report.errors == ("svc/broken.py:4: syntax error (invalid syntax); file not checked",)
    assert len(report.findings) == 5  # the rest is checked all the same
    for output_format in ("text", "json", "sarif"):
        result = runner.invoke(app, ["check", str(project), "--format", output_format])
        assert result.exit_code == 17, result.output
        assert result.stderr == report.errors[0] + "\n"  # every diagnostic on stderr
        assert "broken.py" not in result.stdout or output_format == "sarif"
        if output_format == "text":
            assert result.stdout.splitlines()[-1] == (
                "Found 5 blocking call(s) on the event loop; "
                "1 file(s) or function(s) not checked, named on stderr."
            )
        elif output_format == "json":
            assert len(json.loads(result.stdout)) == 5
        else:  # SARIF carries it as a notification of the run, as GitHub shows it
            (run,) = json.loads(result.stdout)["runs"]
            notifications = run["invocations"][0]["toolExecutionNotifications"]
            assert [n["message"]["text"] for n in notifications] == list(report.errors)


def test_a_clean_run_that_could_not_read_everything_is_not_clean(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    (tmp_path / "template.py").write_text("{% if jinja %}\nx = 1\n{% endif %}\n")
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 17
    assert result.stderr.startswith("template.py:1: syntax error (")
    assert result.stdout.endswith("1 file(s) or function(s) not checked, named on stderr.\n")
