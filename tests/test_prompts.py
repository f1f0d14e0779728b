"""On a terminal, `fastapi-scaffold new` asks for the answers the command line left out.

The command asks only when stdin is a terminal (`sys.stdin.isatty()`), and copier's prompts
(questionary on prompt_toolkit) switch the terminal to raw mode, draw with escape codes and ask
the terminal where its cursor is: none of which a pipe can do. So these tests run the installed
command on a real pseudo-terminal and type into it as a user would.
"""

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastapi_scaffold.template import questions

COMMAND = str(Path(sys.executable).parent / "fastapi-scaffold")
TIMEOUT = 15.0  # seconds for a whole session; every wait below shares this one deadline
CURSOR_POSITION_REQUEST = b"\x1b[6n"  # prompt_toolkit asks once per prompt...
CURSOR_POSITION_REPLY = b"\x1b[1;1R"  # ...and a terminal answers: row 1, column 1
ERASE_LINE = "\x15"  # Ctrl-U: copier pre-fills each default, so clear it before typing
DOWN = "\x1b[B"
ENTER = "\r"
ESCAPE_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# What the user is asked: each question's `help` in copier.yml.
PROMPTS = {name: question.help for name, question in questions().items()}


class Terminal:
    """The user's side of a pseudo-terminal running one command."""

    def __init__(self, fd: int, process: subprocess.Popen[bytes]) -> None:
        self.fd = fd
        self.process = process
        self.output = b""
        self.position = 0  # where the next `expect` starts looking
        self.replies = 0
        self.deadline = time.monotonic() + TIMEOUT

    @property
    def text(self) -> str:
        """What the user saw, without the escape codes."""
        return ESCAPE_CODE.sub("", self.output.decode(errors="replace"))

    def _read(self, awaited: str) -> bool:
        """Read what the command wrote and answer its cursor position requests; False at end."""
        ready, _, _ = select.select([self.fd], [], [], max(self.deadline - time.monotonic(), 0))
        if not ready:
            pytest.fail(f"timed out waiting for {awaited}; the terminal shows:\n{self.text}")
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the command exited and closed the terminal
            return False
        self.output += chunk
        while self.replies < self.output.count(CURSOR_POSITION_REQUEST):
            os.write(self.fd, CURSOR_POSITION_REPLY)
            self.replies += 1
        return bool(chunk)

    def expect(self, text: str) -> None:
        """Wait until `text` appears after what was already expected."""
        needle = text.encode()
        while (found := self.output.find(needle, self.position)) < 0:
            if not self._read(repr(text)):
                pytest.fail(f"{text!r} never appeared; the terminal shows:\n{self.text}")
        self.position = found + len(needle)

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait(self) -> int:
        """Read to the end and return the command's exit code."""
        while self._read("the command to exit"):
            pass
        return self.process.wait(timeout=max(self.deadline - time.monotonic(), 1))


@contextlib.contextmanager
def terminal(args: list[str], cwd: Path) -> Iterator[Terminal]:
    """Run `fastapi-scaffold ARGS` on a new 24x120 terminal; kill it if the test fails."""
    fd, child_fd = pty.openpty()
    termios.tcsetwinsize(child_fd, (24, 120))
    env = {**os.environ, "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [COMMAND, *args],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        cwd=cwd,
        env=env,
        start_new_session=True,  # its own process group, away from the terminal pytest runs in
    )
    os.close(child_fd)
    try:
        yield Terminal(fd, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the command and whatever it started
            process.wait()
        os.close(fd)


def answers_file(project: Path) -> set[str]:
    return set((project / ".copier-answers.yml").read_text().splitlines())


def test_prompts_for_what_the_command_line_left_out(tmp_path: Path) -> None:
    given = ["--database", "none", "--http-client", "none", "--cpu-work", "none"]
    with terminal(["new", "proj", *given], tmp_path) as user:
        user.expect(PROMPTS["package_name"])
        user.type(f"{ERASE_LINE}typed_pkg{ENTER}")
        user.expect(PROMPTS["description"])
        user.type(f"{ERASE_LINE}Typed at a terminal{ENTER}")
        user.expect(PROMPTS["author_name"])
        user.type(ENTER)
        user.expect(PROMPTS["author_email"])
        user.type(ENTER)
        assert user.wait() == 0, user.text

    assert "Created" in user.text
    for name in ("project_name", "database", "http_client", "cpu_work"):
        assert PROMPTS[name] not in user.text, f"{name} was answered on the command line, yet asked"
    assert {
        "package_name: typed_pkg",
        "description: Typed at a terminal",
        "author_name: Your Name",
        "author_email: you@example.com",
        "database: none",
    } <= answers_file(tmp_path / "proj")
    assert (tmp_path / "proj" / "typed_pkg").is_dir()


def test_choice_is_picked_with_the_arrow_keys(tmp_path: Path) -> None:
    given = ["--database", "none", "--http-client", "none", "-d", "package_name=p"]
    given += ["-d", "description=d", "-d", "author_name=n", "-d", "author_email=n@example.com"]
    with terminal(["new", "proj", *given], tmp_path) as user:
        user.expect(PROMPTS["cpu_work"])
        user.expect("process (pure-Python CPU work)")  # the last choice: the menu is drawn
        user.type(f"{DOWN}{ENTER}")
        assert user.wait() == 0, user.text

    assert "cpu_work: thread" in answers_file(tmp_path / "proj")
