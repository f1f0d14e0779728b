"""A file's syntax tree and `# noqa` comments, parsed once while the file is unchanged.

`ast.parse` reads what the running Python reads; a file it refuses goes through
newer_syntax.py, which reads syntax up to 3.15. A file neither reads, and one that files.py
does not read at all, comes back with the reason, to be named, never skipped in silence.
"""

import ast
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi_scaffold.check.files import DEFAULT_MAX_FILE_BYTES, NotRead, open_source, read_source

# Searched through a whole file at once, so never across a line's end.
NOQA = re.compile(r"#[ \t]*noqa(?::[ \t]*(?P<codes>[A-Z]+[0-9]+(?:[ \t,]+[A-Z]+[0-9]+)*))?", re.I)
TOO_DEEP = "nested too deeply to parse (past Python's recursion limit)"
# What a module that declares roots (roots.py, modules.DECLARING), or keeps something on
# `app.state`, or decorates a handler, must name: the others' statements and function bodies
# are read only once a root reaches them.
DECLARES = re.compile(
    r"FastAPI|APIRouter|Starlette|Router|include_router|add_api_|add_websocket_route"
    r"|add_exception_handler|add_middleware|add_event_handler|Depends|Security|Middleware"
    r"|\.state\b"
    r"|^\s*@\w+(?:\.\w+)*\.(?:get|post|put|patch|delete|head|options|trace|api_route|route"
    r"|websocket|websocket_route|middleware|exception_handler|on_event)\("
    r"|^\s*@\w+(?:\.\w+)*\([^)]*\.(?:get|post|put|patch|delete|api_route|websocket)\b",
    re.M,
)


@dataclass(frozen=True)
class Parsed:
    tree: ast.Module | None
    # Why there is no tree, and on which line if one: "syntax error (invalid syntax)".
    error: tuple[int | None, str] | None
    noqa: dict[int, frozenset[str] | None]
    lines: int
    # Whether its text names anything that can declare a root or keep state on the app from
    # inside a function: only then are its function bodies indexed before a root reaches them.
    declares: bool = True


# Parses by file, kept while the file is unchanged: checking a project again (an editor, the
# tests' 36 variants sharing files) parses only what changed.
_PARSED: dict[Path, tuple[tuple[int, int, int, int], Parsed]] = {}


def parse(
    path: Path, project: Path | None = None, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Parsed:
    """The file's syntax tree, or why there is none. `project` is the checked directory (a
    real path): a symbolic link is followed only to a file inside it."""
    try:
        descriptor, status = open_source(path, project)
    except NotRead as exc:
        return Parsed(None, (None, str(exc)), {}, 0)
    try:
        key = (status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)
        cached = _PARSED.get(path)
        if cached is not None and cached[0] == key and status.st_size <= max_bytes:
            return cached[1]
        source = read_source(descriptor, status, max_bytes)
    except NotRead as exc:
        return Parsed(None, (None, str(exc)), {}, 0)
    finally:
        os.close(descriptor)
    parsed = _parse(source, path)
    _PARSED[path] = (key, parsed)
    return parsed


def _parse(source: bytes, path: Path) -> Parsed:
    text = source.decode("utf-8", errors="replace")
    lines = text.count("\n") + 1
    tree: ast.Module | None = None
    error: tuple[int | None, str] | None = None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        try:
            tree = _parse_newer(source)
        except RecursionError:
            error = (None, TOO_DEEP)
        if tree is None and error is None:
            error = (exc.lineno or 1, f"syntax error ({exc.msg})")
    except RecursionError:
        error = (None, TOO_DEEP)
    except ValueError as exc:  # a NUL byte, on some Pythons
        error = (None, f"cannot be parsed ({exc})")
    return Parsed(tree, error, _noqa(text), lines, DECLARES.search(text) is not None)


def _parse_newer(source: bytes) -> ast.Module | None:
    """The tree of a file written for a newer Python, or None if it is not one."""
    # Imported on the first such file: compiling its patterns is most of what it costs.
    from fastapi_scaffold.check.newer_syntax import Unreadable, downgrade

    try:
        return ast.parse(downgrade(importlib.util.decode_source(source)))
    except (SyntaxError, Unreadable, UnicodeDecodeError, LookupError, ValueError):
        return None


def clear_parse_cache() -> None:
    """Forget every parse, so that the next check reads as on a first run (benchmarks)."""
    _PARSED.clear()


def _noqa(text: str) -> dict[int, frozenset[str] | None]:
    found: dict[int, frozenset[str] | None] = {}
    if "noqa" not in text.lower():
        return found
    number, counted = 1, 0
    for match in NOQA.finditer(text):  # the first on each line, as a search per line finds
        number += text.count("\n", counted, match.start())
        counted = match.start()
        if number in found:
            continue
        codes = match.group("codes")
        found[number] = (
            frozenset(code.upper() for code in re.split(r"[ \t,]+", codes) if code)
            if codes
            else None
        )
    return found
