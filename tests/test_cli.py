"""The `fastapi-scaffold` command: options, answers, refusals and their exit codes.

typer's CliRunner gives the command a stdin that is not a terminal, as in CI.
"""

import os
import pty
import re
import select
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fastapi_scaffold import __version__
from fastapi_scaffold.cli import app
from fastapi_scaffold.errors import DestinationError, InvalidAnswer, MissingAnswers

runner = CliRunner()
PROGRAM = Path(sys.executable).parent / "fastapi-scaffold"  # the installed entry point
CHOICES = ["--database", "none", "--http-client", "none", "--cpu-work", "none"]


def answers_of(project: Path) -> dict[str, str]:
    answers: dict[str, str] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return answers


@pytest.mark.parametrize(
    ("arguments", "shown"), [(["--help"], "variants"), (["new", "--help"], "--database")]
)
def test_help_lists_the_commands_without_importing_copier(arguments: list[str], shown: str) -> None:
    script = (
        "import sys\n"
        "from fastapi_scaffold.cli import main\n"
        f"sys.argv = ['fastapi-scaffold', *{arguments!r}]\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "assert 'copier' not in sys.modules, 'copier imported for --help'\n"
        "assert 'fastapi_scaffold.check' not in sys.modules, 'check imported for --help'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "new" in result.stdout
    assert shown in result.stdout


def run_program(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it, with a wide terminal so no line wraps."""
    return subprocess.run(
        [str(PROGRAM), *arguments],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200", **env},
    )


@pytest.mark.parametrize(
    ("option", "choices"),
    [
        ("--database", "[none|psycopg2|asyncpg]"),
        ("--orm", "[none|sqlalchemy]"),
        ("--http-client", "[none|requests|httpx]"),
        ("--cpu-work", "[none|thread|process|celery]"),
    ],
)
@pytest.mark.parametrize("command", ["new", "update"])
def test_help_shows_each_choice_options_choices(command: str, option: str, choices: str) -> None:
    result = run_program(command, "--help")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"{re.escape(option)}\s+{re.escape(choices)}\s", result.stdout), result.stdout


def test_the_readmes_help_excerpt_is_what_help_prints() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    excerpt = readme.split("`new --help` lists")[1].split("```text\n")[1].split("```")[0]
    printed = [
        line.strip("│ ").rstrip() for line in run_program("new", "--help").stdout.splitlines()
    ]
    for line in excerpt.splitlines():
        assert line.strip() in printed, line


@pytest.mark.parametrize(
    ("arguments", "usage"),
    [
        ([], "Usage: fastapi-scaffold [OPTIONS] COMMAND [ARGS]..."),
        (["new"], "Usage: fastapi-scaffold new [OPTIONS] PATH"),
        (["update"], "Usage: fastapi-scaffold update [OPTIONS] [PATH]"),
        (["check"], "Usage: fastapi-scaffold check [OPTIONS] [PATH]"),
        (["variants"], "Usage: fastapi-scaffold variants [OPTIONS]"),
    ],
)
def test_help_uses_clicks_metavars(arguments: list[str], usage: str) -> None:
    """click's conventions: TEXT, PATH, nothing after a flag; not `<str>`, `<bool>`, `{path}`."""
    result = run_program(*arguments, "--help")
    assert result.returncode == 0, result.stderr
    assert usage in result.stdout
    assert not re.search(r"<\w+>|\{\w+\}", result.stdout), result.stdout
    for flag in ("--help", "--defaults", "--force", "--json", "--fix", "--version"):
        for line in result.stdout.splitlines():
            if re.match(rf"│ {flag}\b", line):  # its row: the help text, no metavar
                assert re.match(rf"│ {flag}\s+[A-Z]", line), line


@pytest.mark.parametrize(
    ("option", "value", "valid"),
    [
        ("--database", "mysql", "'none', 'psycopg2', 'asyncpg'"),
        ("--orm", "django", "'none', 'sqlalchemy'"),
        ("--http-client", "urllib3", "'none', 'requests', 'httpx'"),
        ("--cpu-work", "gpu", "'none', 'thread', 'process', 'celery'"),
    ],
)
@pytest.mark.parametrize("command", ["new", "update"])
def test_a_choice_not_offered_is_a_usage_error_before_anything_is_loaded(
    tmp_path: Path, command: str, option: str, value: str, valid: str
) -> None:
    """click refuses it while parsing (exit 2, its own message): copier is never imported."""
    destination = tmp_path / "p"
    script = (
        "import sys\n"
        "from fastapi_scaffold.cli import main\n"
        f"sys.argv = ['fastapi-scaffold', {command!r}, {str(destination)!r}, {option!r}, "
        f"{value!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "assert 'copier' not in sys.modules, 'copier imported before the options were checked'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '{option}': '{value}' is not one of {valid}." in result.stderr
    assert not destination.exists()


def test_show_completion_prints_a_bash_script_that_completes_the_choices(tmp_path: Path) -> None:
    """The script typer prints, sourced by a real bash, completes `new --cpu-work pro`."""
    # Name the shell rather than let typer detect the one running the tests.
    script = run_program(
        "--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"
    )
    assert script.returncode == 0, script.stderr
    assert "_FASTAPI_SCAFFOLD_COMPLETE=complete_bash" in script.stdout
    assert "complete -o default -F _fastapi_scaffold_completion fastapi-scaffold" in script.stdout
    (tmp_path / "completion.bash").write_text(script.stdout)
    session = (
        "source completion.bash\n"
        "COMP_WORDS=(fastapi-scaffold new p --cpu-work pro); COMP_CWORD=4\n"
        "_fastapi_scaffold_completion fastapi-scaffold\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    completed = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", session],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{PROGRAM.parent}{os.pathsep}{os.environ['PATH']}"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["process"]


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        ("fastapi-scaffold new --database ", ["none", "psycopg2", "asyncpg"]),
        ("fastapi-scaffold new p --http-client re", ["requests"]),
        ("fastapi-scaffold update --orm ", ["none", "sqlalchemy"]),
        ("fastapi-scaffold check --format ", ["text", "json", "sarif"]),
        ("fastapi-scaffold ", ["new", "update", "check", "variants"]),
    ],
)
def test_completion_offers_the_choices(words: str, offered: list[str]) -> None:
    """click's protocol, as the bash script drives it: the words so far and the cursor's."""
    result = run_program(
        _FASTAPI_SCAFFOLD_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(words.split(" ")) - 1),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == offered


def run_in_terminal(arguments: list[str], cwd: Path, **env: str) -> tuple[int, str]:
    """The installed command with a terminal for stdout and stderr, as a person runs it: click
    and rich color only a terminal. Returns the exit code and everything it printed."""
    parent, child = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    process = subprocess.Popen(
        [str(PROGRAM), *arguments],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        cwd=cwd,
        env={**environment, "TERM": "xterm-256color", "COLUMNS": "120", **env},
    )
    os.close(child)
    output = b""
    try:
        while select.select([parent], [], [], 30)[0]:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # Linux: the program exited and closed the terminal
                break
            if not chunk:
                break
            output += chunk
        else:
            process.kill()
    finally:
        os.close(parent)
    return process.wait(timeout=30), output.decode()


def colors(output: str) -> set[str]:
    """The ANSI color codes (foreground, background; bold or dim are not colors) in output."""
    found = set()
    for parameters in re.findall(r"\x1b\[([0-9;]*)m", output):
        for code in parameters.split(";"):
            if code and (30 <= int(code) <= 48 or 90 <= int(code) <= 107):
                found.add(code)
    return found


@pytest.mark.parametrize(
    ("arguments", "exit_code"),
    [
        (["new", "p", "-d", "colour=blue"], InvalidAnswer.exit_code),  # our own red line
        (["new", "p", "--database", "mysql"], 2),  # click's usage error, in typer's panel
        (["new", "--help"], 0),
        (["--help"], 0),
    ],
)
def test_no_color_is_honoured(tmp_path: Path, arguments: list[str], exit_code: int) -> None:
    """On a terminal the output is colored, unless NO_COLOR is set to anything but ""."""
    for no_color, colored in ((None, True), ("", True), ("1", False)):
        env = {} if no_color is None else {"NO_COLOR": no_color}
        code, output = run_in_terminal(arguments, tmp_path, **env)
        assert code == exit_code, output
        assert bool(colors(output)) is colored, (no_color, output)
        if arguments[-1] == "colour=blue":
            assert ("\x1b" in output) is colored, output  # not even bold
    assert list(tmp_path.iterdir()) == []


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"fastapi-scaffold {__version__}"


def test_variants_prints_the_matrix() -> None:
    result = runner.invoke(app, ["variants"])
    assert result.exit_code == 0
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert len(rows) == 60
    for name, db, orm, http, cpu, _ in rows:
        assert name == f"{db if orm == 'none' else f'{db}+{orm}'}-{http}-{cpu}"
    styles = {(db, orm, http): style for _, db, orm, http, _, style in rows}
    assert styles[("psycopg2", "none", "requests")] == "sync"
    assert styles[("psycopg2", "sqlalchemy", "requests")] == "sync"
    assert styles[("asyncpg", "none", "httpx")] == "async"
    assert styles[("asyncpg", "sqlalchemy", "httpx")] == "async"
    assert styles[("psycopg2", "sqlalchemy", "httpx")] == "mixed"
    assert styles[("none", "none", "none")] == "async"


def test_new_with_flags_records_the_answers(tmp_path: Path) -> None:
    project = tmp_path / "orders-service"
    result = runner.invoke(
        app,
        ["new", str(project), "--database", "psycopg2", "--http-client", "httpx"]
        + ["--cpu-work", "process", "-d", "author_name=Ada", "--defaults"],
    )
    assert result.exit_code == 0, result.output
    assert f"Created {project}" in result.stdout
    answers = answers_of(project)
    assert answers["project_name"] == "orders-service"
    assert answers["package_name"] == "orders_service"
    assert (answers["database"], answers["http_client"], answers["cpu_work"]) == (
        "psycopg2",
        "httpx",
        "process",
    )
    assert answers["author_name"] == "Ada"
    assert (project / "orders_service" / "offload.py").is_file()


def test_without_a_terminal_missing_answers_are_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "p"), "--database", "asyncpg"])
    assert result.exit_code == MissingAnswers.exit_code
    assert "http_client" in result.stderr
    assert "cpu_work" in result.stderr
    assert "database" not in result.stderr.split("no answer for:")[1].split(";")[0]
    assert not (tmp_path / "p").exists()


def test_all_answers_given_needs_no_terminal(tmp_path: Path) -> None:
    data = ["-d", "description=d", "-d", "author_name=a", "-d", "author_email=a@b.org"]
    result = runner.invoke(
        app, ["new", str(tmp_path / "p"), *CHOICES, "-d", "package_name=pkg", *data]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("arguments", "mentioned"),
    [
        (["-d", "database=mysql"], "'mysql' is not a choice for database"),
        (["-d", "http_client=urllib3"], "'urllib3' is not a choice for http_client"),
        (["-d", "cpu_work=gpu"], "'gpu' is not a choice for cpu_work"),
        (["-d", "orm=django"], "'django' is not a choice for orm"),
        (["--database", "none", "--orm", "sqlalchemy"], "orm=sqlalchemy does not apply with"),
        (["-d", "colour=blue"], "'colour' is not a question"),
        (["-d", "no-equals-sign"], "is not KEY=VALUE"),
    ],
)
def test_bad_answers_are_refused(tmp_path: Path, arguments: list[str], mentioned: str) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "p"), "--defaults", *arguments])
    assert result.exit_code == InvalidAnswer.exit_code
    assert mentioned in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("package_name", "reason"),
    [
        ("", "is empty"),
        ("2fast", "not a lowercase Python identifier"),
        ("My-App", "not a lowercase Python identifier"),
        ("café", "not a lowercase Python identifier"),
        ("class", "is a Python keyword"),
        ("json", "would shadow the 'json' module"),
        ("fastapi", "would shadow the 'fastapi' module"),
        ("a" * 41, "longer than 40 characters"),
    ],
)
def test_bad_package_names_are_refused(tmp_path: Path, package_name: str, reason: str) -> None:
    result = runner.invoke(
        app, ["new", str(tmp_path / "p"), "--defaults", "-d", f"package_name={package_name}"]
    )
    assert result.exit_code == InvalidAnswer.exit_code, result.output
    assert reason in result.stderr
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_project_name_that_is_not_a_package_name_gets_one_derived(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "Café Orders 2"), "--defaults"])
    assert result.exit_code == 0, result.output
    assert answers_of(tmp_path / "Café Orders 2")["package_name"] == "caf_orders_2"


def test_a_project_name_with_nothing_to_derive_a_package_name_from_asks_for_one(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "日本語"), "--defaults"])
    assert result.exit_code == InvalidAnswer.exit_code
    assert result.stderr.strip() == (
        "error: package_name is empty: pass one with --data package_name=NAME "
        "(a lowercase Python identifier); nothing was written"
    )
    assert list(tmp_path.iterdir()) == []


def test_free_text_with_quotes_and_accents_stays_valid_python_and_toml(tmp_path: Path) -> None:
    name = 'Café "Quoted" \\ Service'
    result = runner.invoke(
        app,
        ["new", str(tmp_path / "p"), "--defaults", "-d", f"project_name={name}"]
        + ["-d", "package_name=quoted", "-d", 'description=It\'s "fine"'],
    )
    assert result.exit_code == 0, result.output
    pyproject = tomllib.loads((tmp_path / "p" / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == 'It\'s "fine"'
    main = (tmp_path / "p" / "quoted" / "main.py").read_text()
    compile(main, "main.py", "exec")
    assert 'title="Café \\"Quoted\\" \\\\ Service"' in main


def test_a_non_empty_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    result = runner.invoke(app, ["new", str(tmp_path), "--defaults"])
    assert result.exit_code == DestinationError.exit_code
    assert "is not empty" in result.stderr
    assert "--force" in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["mine.txt"]


def test_force_writes_into_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    (tmp_path / "README.md").write_text("old readme")
    result = runner.invoke(
        app, ["new", str(tmp_path), "--defaults", "--force", "-d", "package_name=forced"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert (tmp_path / "README.md").read_text() != "old readme"
    assert (tmp_path / "forced" / "main.py").is_file()


def test_an_empty_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["new", str(tmp_path / "empty"), "--defaults"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "pyproject.toml").is_file()


@pytest.mark.parametrize("destination", ["", "  "])
def test_an_empty_destination_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, destination: str
) -> None:
    """`fastapi-scaffold new "$UNSET"` must not mean the current directory."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["new", destination, "--defaults"])
    assert result.exit_code == DestinationError.exit_code
    assert result.stderr.strip() == "error: the destination is empty; name the project's directory"
    assert list(tmp_path.iterdir()) == []


def test_a_file_as_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file")
    result = runner.invoke(app, ["new", str(tmp_path / "taken"), "--defaults"])
    assert result.exit_code == DestinationError.exit_code
    assert "is a file" in result.stderr
    assert (tmp_path / "taken").read_text() == "a file"


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", str(tmp_path / "a" / "b" / "proj"), "--defaults"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "b" / "proj" / "proj" / "main.py").is_file()


def test_an_unwritable_parent_is_refused(tmp_path: Path) -> None:
    """Root may write anywhere but into an immutable directory; others get a read-only one."""
    locked = tmp_path / "locked"
    locked.mkdir()
    lock, unlock = (["chattr", "+i"], ["chattr", "-i"]) if os.geteuid() == 0 else ([], [])
    if lock:
        subprocess.run([*lock, str(locked)], check=True)
    else:
        locked.chmod(0o555)
    try:
        result = runner.invoke(app, ["new", str(locked / "p"), "--defaults"])
        assert result.exit_code == DestinationError.exit_code, result.output
        assert "cannot write in" in result.stderr
        assert list(locked.iterdir()) == []
    finally:
        if unlock:
            subprocess.run([*unlock, str(locked)], check=True)
        locked.chmod(0o755)


def test_the_next_hint_is_shell_quoted_and_needs_no_system_pip(tmp_path: Path) -> None:
    """A path with a space, and a venv so that PEP 668 systems take the hint as it is."""
    destination = tmp_path / "my project"
    result = runner.invoke(app, ["new", str(destination), *CHOICES, "--defaults", "--no-git"])
    assert result.exit_code == 0, result.output
    hint = result.stdout.strip().splitlines()[-1]
    command = hint.removeprefix("Next: ")
    assert shlex.split(command)[:2] == ["cd", str(destination)]
    assert "python3 -m venv .venv && .venv/bin/pip install" in command
    assert " pip install" not in command.replace(".venv/bin/pip install", "")
