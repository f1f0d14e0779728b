"""A file's syntax tree and `# noqa` comments, parsed once while the file is unchanged."""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

NOQA = re.compile(r"#\s*noqa(?::[\s]*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)


@dataclass(frozen=True)
class Parsed:
    tree: ast.Module | None
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
    try:
        tree: ast.Module | None = ast.parse(source, filename=str(path))
        error = None
    except (SyntaxError, ValueError) as exc:
        tree = None
        line = getattr(exc, "lineno", None) or 1
        error = (line, getattr(exc, "msg", None) or str(exc))
    parsed = Parsed(tree, error, _noqa(text), lines)
    _PARSED[path] = (stat.st_mtime_ns, stat.st_size, parsed)
    return parsed


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
