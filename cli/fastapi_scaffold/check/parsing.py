"""A file's syntax tree and `# noqa` comments, parsed once while the file is unchanged.

`ast.parse` reads what the running Python reads; a file it refuses goes through
newer_syntax.py, which reads syntax up to 3.15. A file neither reads is named, not skipped
in silence.
"""

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

NOQA = re.compile(r"#\s*noqa(?::[\s]*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)


@dataclass(frozen=True)
class Parsed:
    tree: ast.Module | None
    # Why there is no tree, and on which line: "syntax error (invalid syntax)".
    error: tuple[int, str] | None
    noqa: dict[int, frozenset[str] | None]
    lines: int


# Parses by file, kept while the file is unchanged: checking a project again (an editor, the
# tests' 36 variants sharing files) parses only what changed.
_PARSED: dict[Path, tuple[int, int, Parsed]] = {}


def parse(path: Path) -> Parsed:
    """The file's syntax tree, or the line and message of its syntax error."""
    stat = path.stat()
    cached = _PARSED.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    source = path.read_bytes()
    text = source.decode("utf-8", errors="replace")
    lines = text.count("\n") + 1
    error = None
    try:
        tree: ast.Module | None = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        tree = _parse_newer(source)
        if tree is None:
            error = (exc.lineno or 1, why_unreadable(source, exc.msg))
    except ValueError as exc:  # a NUL byte
        tree, error = None, (1, f"cannot be parsed ({exc})")
    parsed = Parsed(tree, error, _noqa(text), lines)
    _PARSED[path] = (stat.st_mtime_ns, stat.st_size, parsed)
    return parsed


def _parse_newer(source: bytes) -> ast.Module | None:
    """The tree of a file written for a newer Python, or None if it is not one."""
    # Imported on the first such file: compiling its patterns is most of what it costs.
    from fastapi_scaffold.check.newer_syntax import Unreadable, downgrade

    try:
        return ast.parse(downgrade(importlib.util.decode_source(source)))
    except (SyntaxError, Unreadable, UnicodeDecodeError, LookupError, ValueError):
        return None


def why_unreadable(source: bytes, message: str) -> str:
    """Why a file cannot be read: a syntax error, or syntax this checker does not know yet
    (libcst, which knows Python up to 3.15, reads it: worth a report)."""
    import libcst  # only here: importing it costs more than checking a small project

    try:
        libcst.parse_module(source)
    except Exception:  # libcst's ParserSyntaxError, or whatever else refuses the file
        return f"syntax error ({message})"
    return f"syntax error ({message}), yet libcst reads it: if it is newer Python, please report it"


def clear_parse_cache() -> None:
    """Forget every parse, so that the next check reads as on a first run (benchmarks)."""
    _PARSED.clear()


def _noqa(text: str) -> dict[int, frozenset[str] | None]:
    found: dict[int, frozenset[str] | None] = {}
    if "noqa" not in text.lower():
        return found
    for number, line in enumerate(text.splitlines(), 1):
        match = NOQA.search(line)
        if match:
            codes = match.group("codes")
            found[number] = (
                frozenset(code.upper() for code in re.split(r"[\s,]+", codes) if code)
                if codes
                else None
            )
    return found
