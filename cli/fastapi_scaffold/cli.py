"""The `fastapi-scaffold` command: parses options, calls `api`, prints. Nothing else lives here.

copier is imported only by the commands that render, and the checker only by those that check,
so `--help` and `variants` stay fast.
"""

import gc
import json
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from fastapi_scaffold import __version__, api
from fastapi_scaffold.errors import (
    CHECK_INCOMPLETE_EXIT_CODE,
    INTERRUPTED_BEFORE_WRITING,
    NOT_LOCKED_EXIT_CODE,
    DestinationError,
    Interrupted,
    InvalidAnswer,
    ScaffoldError,
)
from fastapi_scaffold.template import questions, variants

app = typer.Typer(
    name="fastapi-scaffold",
    help="Generate FastAPI projects whose handlers fit the libraries they use.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _choice_option(name: str) -> Any:
    """An option taking one of the question's choices in copier.yml, as a Literal: typer lists
    them in --help, completes them, and refuses any other as click does (exit 2, before
    anything is rendered). Built from copier.yml, so the choices are never copied here."""
    question = questions()[name]
    choices: Any = Literal.__getitem__(question.choices)  # Literal["none", "psycopg2", ...]
    return Annotated[choices | None, typer.Option(help=f"{question.help}.")]


# --no-lock for every `new` and `update` when set to 0 (a machine that cannot reach the index).
LOCK_VARIABLE = "FASTAPI_SCAFFOLD_LOCK"
# The answer options `new` and `update` share.
if TYPE_CHECKING:  # what each gives the command: one of its choices, or None when not given
    Database = str | None
    Orm = str | None
    HttpClient = str | None
    CpuWork = str | None
else:
    Database = _choice_option("database")
    Orm = _choice_option("orm")
    HttpClient = _choice_option("http_client")
    CpuWork = _choice_option("cpu_work")
Data = Annotated[
    list[str] | None,
    typer.Option("--data", "-d", metavar="KEY=VALUE", help="Answer any question; repeatable."),
]


def _color() -> bool | None:
    """False when NO_COLOR is set and not empty (no-color.org); None leaves it to click, which
    colors a terminal only."""
    return False if os.environ.get("NO_COLOR") else None


def _fail(error: ScaffoldError) -> NoReturn:
    typer.secho(f"error: {error.problem}; {error.fix}", fg=typer.colors.RED, err=True)
    raise typer.Exit(error.exit_code)


def _answers(data: list[str] | None, **choices: str | None) -> dict[str, str]:
    """The answers given on the command line: -d KEY=VALUE pairs, then the choice options."""
    answers = _parse_data(data or [])
    answers.update({key: value for key, value in choices.items() if value is not None})
    return answers


def _parse_data(pairs: list[str]) -> dict[str, str]:
    answers = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            _fail(
                InvalidAnswer(f"--data '{pair}' is not KEY=VALUE", "write it as --data key=value")
            )
        answers[key.strip()] = value
    return answers


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fastapi-scaffold {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Generate FastAPI projects whose handlers fit the libraries they use."""
    # Every command's context inherits it, so each echo and secho in it honours NO_COLOR.
    ctx.color = _color()


@app.command()
def new(
    path: Annotated[
        str,
        typer.Argument(help="Where to create the project; its name is the default project name."),
    ],
    database: Database = None,
    orm: Orm = None,
    http_client: HttpClient = None,
    cpu_work: CpuWork = None,
    data: Data = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Take the default for every unanswered question.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty directory, overwriting files.")
    ] = False,
    git: Annotated[
        bool,
        typer.Option("--git/--no-git", help="Make the project a git repository with one commit."),
    ] = True,
    lock: Annotated[
        bool,
        typer.Option(
            "--lock/--no-lock",
            envvar=LOCK_VARIABLE,
            help="Lock the dependencies in uv.lock (needs the package index).",
        ),
    ] = True,
) -> None:
    """Create a new project at PATH."""
    if not path.strip():  # an unset shell variable, say: never "the current directory"
        _fail(DestinationError("the destination is empty", "name the project's directory"))
    answers = _answers(data, database=database, orm=orm, http_client=http_client, cpu_work=cpu_work)
    try:
        created = api.new(
            Path(path),
            answers,
            defaults=defaults,
            interactive=sys.stdin.isatty(),
            force=force,
            git=git,
            lock=lock,
        )
    except ScaffoldError as error:
        _fail(error)
    typer.secho(f"Created {created.project}", fg=typer.colors.GREEN)
    locked = created.locked
    if locked is not None and not locked.written:
        typer.secho(
            f"uv.lock was not written: {locked.reason}; {locked.fix}",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if created.repository is not None:
        repository = created.repository
        typer.secho(repository.message, fg=None if repository.committed else typer.colors.YELLOW)
    typer.echo(f"Next: cd {shlex.quote(path)} && {_first_run()}")
    if locked is not None and not locked.written:
        raise typer.Exit(NOT_LOCKED_EXIT_CODE)


def _first_run() -> str:
    """The commands that install a new project and run its tests: with uv where it is on PATH
    (from the lock), else with pip (its dependency groups need pip 25.1)."""
    if shutil.which("uv"):
        return "uv sync && uv run pytest"
    return (
        "python3 -m venv .venv && .venv/bin/pip install -q 'pip>=25.1' && "
        ".venv/bin/pip install -e . --group dev && .venv/bin/pytest"
    )


@app.command()
def update(
    path: Annotated[Path, typer.Argument(help="The project to update.")] = Path(),
    database: Database = None,
    orm: Orm = None,
    http_client: HttpClient = None,
    cpu_work: CpuWork = None,
    data: Data = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Keep every recorded answer not changed here.")
    ] = False,
    pretend: Annotated[
        bool, typer.Option("--pretend", help="Show what would change; write nothing.")
    ] = False,
    template: Annotated[
        str | None,
        typer.Option(help="Update from this git URL or repository instead of the local store."),
    ] = None,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Let a template other than this tool's own run its commands (_tasks, "
            "_migrations).",
        ),
    ] = False,
    lock: Annotated[
        bool,
        typer.Option(
            "--lock/--no-lock",
            envvar=LOCK_VARIABLE,
            help="Refresh uv.lock when the update changes the dependencies (needs the package "
            "index).",
        ),
    ] = True,
) -> None:
    """Update a generated project to this version of the template, keeping your edits."""
    answers = _answers(data, database=database, orm=orm, http_client=http_client, cpu_work=cpu_work)
    try:
        result = api.update(
            path,
            answers,
            defaults=defaults,
            interactive=sys.stdin.isatty(),
            pretend=pretend,
            template=template,
            trust=trust,
            lock=lock,
        )
    except ScaffoldError as error:
        _fail(error)
    if result.recovered:
        typer.secho(
            "An earlier update of this project was stopped half-way; it was undone first.",
            fg=typer.colors.YELLOW,
        )
    if pretend:
        typer.echo(
            f"Nothing written: {path} would go from {result.from_version} to {result.to_version}"
            f", changing {len(result.changed)} file(s)" + (":" if result.changed else ".")
        )
        for changed in result.changed:
            typer.echo(f"  {changed}")
        if result.would_relock:
            typer.echo("The dependencies change: uv.lock would be relocked with them.")
        return
    if not result.changed:
        typer.echo(f"Nothing to change: {result.project} is up to date ({result.to_version}).")
        return
    typer.secho(
        f"Updated {result.project} from {result.from_version} to {result.to_version}",
        fg=typer.colors.GREEN,
    )
    if result.styles and result.check_report:
        before, after = result.styles
        found = len(result.check_report.findings)
        typer.secho(
            f"The handler style changed from {before} to {after}; `fastapi-scaffold check` "
            f"finds {found} blocking call(s) on the event loop" + (":" if found else "."),
            fg=typer.colors.YELLOW if found else None,
        )
        for problem in result.check_report.errors:
            typer.echo(problem, err=True)
        if found:
            from fastapi_scaffold.check.output import Format, render

            typer.echo(render(result.check_report, Format.TEXT))
    locked = result.locked
    if locked is not None and locked.written:
        typer.echo("The dependencies changed: uv.lock is relocked, staged with the rest.")
    elif locked is not None:
        typer.secho(
            f"uv.lock was not relocked: {locked.reason}; {locked.fix}",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(
        "The changes are staged: review them with `git diff --staged`, then `git commit`; "
        f"to undo the update, `{api.ABORT}`."
    )
    if locked is not None and not locked.written:
        raise typer.Exit(NOT_LOCKED_EXIT_CODE)


Codes = Annotated[
    list[str] | None,
    typer.Option(metavar="CODES", help="Rule codes or prefixes, comma-separated; repeatable."),
]


@app.command("check")
def check_command(
    path: Annotated[Path, typer.Argument(help="The project (or one file) to check.")] = Path(),
    # The values of check.output.Format, spelt out: that module is imported only to check.
    output_format: Annotated[
        Literal["text", "json", "sarif"],
        typer.Option("--format", help="text, json (a list) or sarif (2.1.0)."),
    ] = "text",
    select: Codes = None,
    ignore: Codes = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Make each blocking `async def` route or dependency that awaits nothing a "
            "plain `def`, where that is provably safe; then report what is left.",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option("--diff", help="Print what --fix would change, as a diff; write nothing."),
    ] = False,
) -> None:
    """Find blocking calls that run on the event loop; exit 1 if there are any, 17 if some code
    could not be checked."""
    from fastapi_scaffold.check import check
    from fastapi_scaffold.check.output import Format, render

    try:
        if fix or diff:
            _fix(path, select, ignore, write=not diff)
        report = check(path, select=select, ignore=ignore)
    except ScaffoldError as error:
        _fail(error)
    # The syntax trees read (millions of objects, kept for the next check in this process)
    # live to the end: the collector need not walk them again at exit, which on a 400k-line
    # project took as long as the check itself.
    gc.freeze()
    for problem in report.errors:  # stdout is the report alone, in every format
        typer.echo(problem, err=True)
    typer.echo(render(report, Format(output_format)))
    if report.errors:
        raise typer.Exit(CHECK_INCOMPLETE_EXIT_CODE)
    raise typer.Exit(1 if report.findings else 0)


def _fix(path: Path, select: list[str] | None, ignore: list[str] | None, write: bool) -> None:
    """`--fix` (write) or `--diff` (print the diff, then exit: 1 if it changes something)."""
    from fastapi_scaffold.check.fix import fixes

    found = fixes(path, select, ignore)
    for line in found.refused:
        typer.echo(f"not fixed: {line}", err=True)
    if not write:
        for problem in found.report.errors:
            typer.echo(problem, err=True)
        typer.echo(found.diff(), nl=False)
        if found.report.errors:
            raise typer.Exit(CHECK_INCOMPLETE_EXIT_CODE)
        raise typer.Exit(1 if found.changes else 0)
    found.write()
    for line in found.made_def:
        typer.echo(f"fixed: {line}: now a plain `def`", err=True)


@app.command("variants")
def list_variants(
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON list: each variant's id, answers and style."),
    ] = False,
) -> None:
    """Print every combination of answers and the handler style it gets."""
    if as_json:
        typer.echo(json.dumps([variant.as_json() for variant in variants()], indent=2))
        return
    rows = [("id", "database", "orm", "http_client", "cpu_work", "handler style")]
    rows += [
        (v.id, v.database, v.orm, v.http_client, v.cpu_work, v.handler_style) for v in variants()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _terminate(signum: int, frame: object) -> NoReturn:
    """SIGTERM unwinds like Ctrl-C, so that what a command started is undone."""
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except KeyboardInterrupt:  # outside a command's own handling: while asking, say
        typer.secho(
            f"error: {INTERRUPTED_BEFORE_WRITING}",
            fg=typer.colors.RED,
            err=True,
            color=_color(),
        )
        sys.exit(Interrupted.exit_code)
