"""The evaluation set of `fastapi-scaffold check` as data: real fixes of event-loop blocking
(recall) and large codebases with hand judgements of findings (precision), read from a TOML
manifest that holds facts about public repositories and never their code.

Checkouts live outside this repository, one directory per repository and commit
(`<owner>+<name>@<sha>`), made from a local git mirror when missing.
"""

import ast
import subprocess
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ManifestError(Exception):
    """The manifest does not describe the tree it names (a wrong line, file or call text)."""


class MissingCheckout(Exception):
    """A tree the manifest names is neither checked out nor in a local mirror."""


@dataclass(frozen=True)
class BlockingCall:
    """One blocking call that a fix removed from the event loop, in the tree before the fix.

    `line` is the first line of the call expression (as `ast` gives it) and `call` the start of
    its text, so that the manifest can be checked against the tree. `function` is the enclosing
    function as written (`Class.method`, `outer.inner`)."""

    file: str
    function: str
    line: int
    call: str
    kind: str
    io: str = ""


@dataclass(frozen=True)
class Fix:
    """A commit of a public FastAPI project that took blocking calls off the event loop."""

    id: str
    repo: str
    before: str
    after: str
    summary: str
    calls: tuple[BlockingCall, ...]
    root: str = ""  # the directory `check` is pointed at, relative to the repository
    url: str = ""


@dataclass(frozen=True)
class Judgement:
    """A hand judgement of one finding: is the reported call really blocking the loop?"""

    file: str  # relative to the codebase's root, as `check` reports it
    line: int
    code: str
    root: str  # the finding's root label, e.g. "GET /items/{id}"
    real: bool
    reason: str
    kind: str = ""  # for false positives: which kind


@dataclass(frozen=True)
class Codebase:
    """A large public FastAPI codebase at a pinned commit, for precision and speed."""

    id: str
    repo: str
    commit: str
    root: str = ""
    judgements: tuple[Judgement, ...] = field(default=())


@dataclass(frozen=True)
class Manifest:
    seed: int
    sample_size: int
    kinds: dict[str, str]
    fixes: tuple[Fix, ...]
    codebases: tuple[Codebase, ...]
    notes: str = ""  # Markdown printed at the end of the report: what the figures say


def load(path: Path) -> Manifest:
    """The manifest at `path`; a missing key is a KeyError naming it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    kinds = {str(k): str(v) for k, v in data.get("kinds", {}).items()}
    fixes = []
    for entry in data.get("fix", []):
        calls = tuple(
            BlockingCall(
                file=c["file"],
                function=c["function"],
                line=int(c["line"]),
                call=c["call"],
                kind=c["kind"],
                io=c.get("io", ""),
            )
            for c in entry["call"]
        )
        for call in calls:
            if kinds and call.kind not in kinds:
                raise ManifestError(f"fix {entry['id']}: unknown kind {call.kind!r}")
        fixes.append(
            Fix(
                id=entry["id"],
                repo=entry["repo"],
                before=entry["before"],
                after=entry["after"],
                summary=entry.get("summary", ""),
                calls=calls,
                root=entry.get("root", ""),
                url=entry.get("url", ""),
            )
        )
    codebases = []
    for entry in data.get("codebase", []):
        judgements = tuple(
            Judgement(
                file=j["file"],
                line=int(j["line"]),
                code=j["code"],
                root=j["root"],
                real=bool(j["real"]),
                reason=j["reason"],
                kind=j.get("kind", ""),
            )
            for j in entry.get("judgement", [])
        )
        codebases.append(
            Codebase(
                id=entry["id"],
                repo=entry["repo"],
                commit=entry["commit"],
                root=entry.get("root", ""),
                judgements=judgements,
            )
        )
    ids = [fix.id for fix in fixes] + [codebase.id for codebase in codebases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ManifestError(f"ids used twice: {', '.join(duplicates)}")
    return Manifest(
        seed=int(data.get("seed", 21)),
        sample_size=int(data.get("sample_size", 25)),
        kinds=kinds,
        fixes=tuple(fixes),
        codebases=tuple(codebases),
        notes=str(data.get("notes", "")),
    )


def checkout(repo: str, commit: str, src: Path, mirrors: Path) -> Path:
    """The tree of `repo` at `commit` under `src`, extracted from the bare mirror
    `mirrors/<owner>+<name>/repo` (as the `fetch` tool leaves it) when not there yet: its
    Python files and pyproject.toml files, all that `check` and the linters read."""
    name = repo.replace("/", "+")
    target = src / f"{name}@{commit}"
    if target.is_dir():
        return target
    mirror = mirrors / name / "repo"
    if not mirror.is_dir():
        raise MissingCheckout(
            f"{target} is missing and there is no mirror at {mirror}: "
            f"fetch {repo} (or check out {commit} into {target})"
        )
    src.mkdir(parents=True, exist_ok=True)
    git = ["git", "--git-dir", str(mirror)]
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-z", "--name-only", commit],
        capture_output=True,
        check=True,
    ).stdout.decode()
    # Only what `check` reads: snapshots lack large files, so a whole-tree archive can fail.
    wanted = [p for p in listing.split("\0") if p.endswith((".py", "pyproject.toml"))]
    with tempfile.TemporaryDirectory(dir=src, prefix=f".{name}-") as scratch:
        archive = Path(scratch) / "tree.tar"
        with archive.open("wb") as out:
            subprocess.run(
                [*git, "archive", "--format=tar", commit, "--", *wanted],
                stdout=out,
                check=True,
            )
        tree = Path(scratch) / "tree"
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        tree.rename(target)
    return target


def call_span(tree: Path, call: BlockingCall) -> tuple[int, int]:
    """The lines (first, last) of the call the manifest names, after checking that the file
    has a call starting at that line with that text, inside that function."""
    path = tree / call.file
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{call.file} is not in {tree.name}") from None
    module = ast.parse(source)
    wanted = "".join(call.call.split())
    for node in ast.walk(module):
        if not isinstance(node, ast.Call) or node.lineno != call.line:
            continue
        text = "".join((ast.get_source_segment(source, node) or "").split())
        if text.startswith(wanted):
            enclosing = _enclosing_function(module, node.lineno)
            if enclosing.split(".")[-1] != call.function.split(".")[-1]:
                raise ManifestError(
                    f"{call.file}:{call.line} is in {enclosing}, not {call.function}"
                )
            return node.lineno, node.end_lineno or node.lineno
    raise ManifestError(f"no call starting with {call.call!r} at {call.file}:{call.line}")


def _enclosing_function(module: ast.Module, line: int) -> str:
    """The innermost function around `line`, dotted through classes and outer functions."""
    best = ""

    def walk(node: ast.AST, prefix: str) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + child.name
                end = child.end_lineno or child.lineno
                if child.lineno <= line <= end:
                    if not isinstance(child, ast.ClassDef):
                        best = name
                    walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(module, "")
    return best
