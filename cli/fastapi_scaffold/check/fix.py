"""`check --fix`: the most common real fix, applied where it is provably safe: an `async def`
route handler or dependency that blocks and awaits nothing becomes a plain `def`, which FastAPI
then runs in its thread pool.

A function is made `def` only when all of these hold; otherwise it is left alone and the reason
is given:

- it is a route (not a websocket) or a dependency, and nothing else FastAPI runs (middleware,
  lifespan, an event or exception handler), and not a method;
- its body (nested functions aside) has no `await`, `async for`, `async with` or async
  comprehension, and, for a route, no `yield`;
- it calls nothing of asyncio, anyio or trio, and sets no context variable: from a worker
  thread those fail, or are lost to the handler;
- it uses no sqlite3 object: those belong to the thread that made them;
- its only decorators declare its route: any other may need a coroutine function;
- the project's code refers to it nowhere but in `Depends(...)` or `add_api_route(...)`: a call
  (`await handler()` in a test, `asyncio.gather(handler())`) expects a coroutine.

What it cannot prove: that state shared between requests (a module-level dict, a client that
is not thread-safe) is safe once handlers run in several threads at once, as `def` handlers do.

The rewrite is libcst's: only the `async ` goes, comments and formatting stay.
"""

import ast
import difflib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst  # imported by the CLI only for --fix and --diff: it costs ~0.3 s

from fastapi_scaffold.check import Report, check_project
from fastapi_scaffold.check.files import open_source, read_source
from fastapi_scaffold.check.framework import APP_TYPES, DEPENDS
from fastapi_scaffold.check.model import Function, Member, Module, Ref
from fastapi_scaffold.check.scopes import FunctionScope, Project, Scope
from fastapi_scaffold.check.syntax import keyword

FIXABLE_KINDS = frozenset({"route", "dependency"})
# Modules whose calls need the event loop's thread, and types whose methods do.
LOOP_MODULES = ("asyncio.", "anyio.", "trio.", "sniffio.")
CONTEXT_VAR = "contextvars.ContextVar"
THREAD_BOUND_RULES = frozenset({"FSB203"})  # sqlite3
REGISTRATIONS = frozenset({"add_api_route"})
# libcst parses some deep expressions in quadratic time or worse: such a file is not rewritten.
MAX_DEPTH = 200


@dataclass(frozen=True)
class Change:
    """One file's text before and after, and its encoding."""

    before: str
    after: str
    encoding: str


@dataclass
class Fixes:
    """What `--fix` changes, file by file, and what it leaves alone, and why."""

    report: Report
    changes: dict[Path, Change] = field(default_factory=dict)
    made_def: list[str] = field(default_factory=list)  # "shop/main.py:12 direct (GET /direct)"
    refused: list[str] = field(default_factory=list)  # "GET /x: not made `def`: it awaits"

    def diff(self) -> str:
        """A unified diff of every change, as `git apply` and `patch -p1` take it."""
        root = self.report.path if self.report.path.is_dir() else self.report.path.parent
        chunks: list[str] = []
        for path, change in sorted(self.changes.items()):
            rel = path.relative_to(root.resolve()).as_posix()
            chunks.extend(
                difflib.unified_diff(
                    change.before.splitlines(keepends=True),
                    change.after.splitlines(keepends=True),
                    f"a/{rel}",
                    f"b/{rel}",
                )
            )
        return "".join(chunks)

    def write(self) -> None:
        """Write each changed file in place of the old one, atomically, keeping its mode."""
        for path, change in self.changes.items():
            target = Path(os.path.realpath(path))
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".fix-")
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(change.after.encode(change.encoding))
                os.chmod(temporary, target.stat().st_mode & 0o7777)
                os.replace(temporary, target)
            except BaseException:
                os.unlink(temporary)
                raise


def fixes(
    path: Path,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
) -> Fixes:
    """Check `path`, then work out which of its findings `--fix` can fix, and the new text of
    each file it changes (nothing is written)."""
    report, project = check_project(path, select, ignore)
    result = Fixes(report)
    candidates: dict[str, list[str]] = {}  # function -> the labels of its roots
    for finding in report.findings:
        root = finding.root
        if root.may_be_def and not root.awaits:
            labels = candidates.setdefault(root.qname, [])
            if root.label not in labels:
                labels.append(root.label)
    refusals: dict[str, str] = {}
    for qname in candidates:
        reason = _refusal(project, project.functions[qname], report)
        if reason:
            refusals[qname] = reason
    for qname, reason in _references(project, set(candidates) - set(refusals)).items():
        refusals[qname] = reason
    by_file: dict[Module, list[Function]] = {}
    for qname in candidates:
        function = project.functions[qname]
        if qname not in refusals:
            by_file.setdefault(function.module, []).append(function)
    for module, functions in by_file.items():
        reason = _rewrite(project, module, functions, result)
        for function in functions if reason else []:
            refusals[function.qname] = reason
    for qname, labels in sorted(
        candidates.items(),
        key=lambda item: (
            project.functions[item[0]].module.rel,
            project.functions[item[0]].node.lineno,
        ),
    ):
        function = project.functions[qname]
        where = f"{function.module.rel}:{function.node.lineno} {function.qualname}"
        if qname in refusals:
            result.refused.append(f"{where} ({', '.join(labels)}): {refusals[qname]}")
        else:
            result.made_def.append(f"{where} ({', '.join(labels)})")
    return result


def _refusal(project: Project, function: Function, report: Report) -> str:
    """Why `function` cannot be made `def` safely, judged from its own code; "" if it can."""
    kinds = {decl.kind for decl in project.roots if decl.function == function.qname}
    if not kinds <= FIXABLE_KINDS:
        other = sorted(kinds - FIXABLE_KINDS)[0]
        article = "an" if other[0] in "aeiou" else "a"
        return f"it is {article} {other}: `--fix` changes only routes and dependencies"
    if function.cls is not None:
        return "it is a method"
    for decorator in function.node.decorator_list:
        if id(decorator) not in project.route_decorators:
            return f"its decorator `@{ast.unparse(decorator)}` may need a coroutine function"
    scope = FunctionScope(project, function)
    for node in _own_nodes(function.node):
        if isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith):
            return "it awaits"
        if isinstance(node, ast.comprehension) and node.is_async:
            return "it has an async comprehension"
        if isinstance(node, ast.Yield | ast.YieldFrom) and "route" in kinds:
            return "it is a generator"
        if isinstance(node, ast.Call):
            reason = _loop_bound(scope.value(node.func))
            if reason:
                return f"{reason} (line {node.lineno})"
    codes = {f.code for f in report.findings if f.root.qname == function.qname}
    if codes & THREAD_BOUND_RULES:
        return "it uses sqlite3, whose objects belong to the thread that made them"
    return ""


def _loop_bound(callee: object) -> str:
    if isinstance(callee, Ref | Member):
        if callee.qname.startswith(LOOP_MODULES):
            return f"it calls `{callee.qname}`, which needs the event loop's thread"
        if isinstance(callee, Member) and callee.owner == CONTEXT_VAR:
            return "it sets a context variable, which a worker thread would not pass back"
    return ""


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The nodes of a function's body, without those of functions, classes and lambdas in it."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _references(project: Project, qnames: set[str]) -> dict[str, str]:
    """The candidates the project's code refers to other than in `Depends(...)` or
    `add_api_route(...)`, each with the first such place."""
    if not qnames:
        return {}
    names = {project.functions[q].node.name for q in qnames}
    project.index_all()
    found: dict[str, str] = {}
    finder = _ReferenceFinder(project, qnames, names, found)
    for module in {id(m): m for m in project.modules.values()}.values():
        try:
            finder.module(module)
        except RecursionError:
            return dict.fromkeys(qnames, f"{module.rel} is nested too deeply to search for calls")
    return found


class _ReferenceFinder:
    def __init__(
        self, project: Project, qnames: set[str], names: set[str], found: dict[str, str]
    ) -> None:
        self.project = project
        self.qnames = qnames
        self.names = names
        self.found = found
        self.functions = {id(f.node): f for f in project.functions.values()}

    def module(self, module: Module) -> None:
        self.rel = module.rel
        self.visit(module.tree, Scope(self.project, module), allowed=False)

    def visit(self, node: ast.AST, scope: Scope, allowed: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = self.functions.get(id(node))
            for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if expr is not None:
                    self.visit(expr, scope, False)
            inner = FunctionScope(self.project, function) if function else scope
            for statement in node.body:
                self.visit(statement, inner, False)
            return
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in self.names and not allowed:
                value = scope.value(node)
                if isinstance(value, Ref) and value.qname in self.qnames:
                    self.found.setdefault(
                        value.qname,
                        f"the code refers to it at {self.rel}:{node.lineno} "
                        f"(`{ast.unparse(node)[:40]}`), where a coroutine may be expected",
                    )
            if isinstance(node, ast.Attribute):
                self.visit(node.value, scope, False)
            return
        if isinstance(node, ast.Call):
            self.visit(node.func, scope, False)
            handed = self._handed_to_fastapi(node, scope)
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                self.visit(argument, scope, argument is handed)
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope, False)

    def _handed_to_fastapi(self, call: ast.Call, scope: Scope) -> ast.expr | None:
        """The argument of `Depends(f)` or `add_api_route(path, f)` that names a candidate."""
        arguments = [*call.args, *(k.value for k in call.keywords)]
        if not any(
            isinstance(a, ast.Name | ast.Attribute)
            and (a.id if isinstance(a, ast.Name) else a.attr) in self.names
            for a in arguments
        ):
            return None
        callee = scope.value(call.func)
        if isinstance(callee, Ref) and callee.qname in DEPENDS:
            return keyword(call, "dependency", 0)
        if (
            isinstance(callee, Member)
            and callee.owner in APP_TYPES
            and callee.name in REGISTRATIONS
        ):
            return keyword(call, "endpoint", 1)
        return None


def _rewrite(project: Project, module: Module, functions: list[Function], result: Fixes) -> str:
    """Drop `async ` from `functions` in `module`'s file; the reason if it cannot be done."""
    if _depth(module.tree) > MAX_DEPTH:
        return "its file is nested too deeply to rewrite safely"
    project_root = project.root if project.root.is_dir() else None
    descriptor, status = open_source(module.path, project_root)
    try:
        source = read_source(descriptor, status, project.max_file_bytes)
    finally:
        os.close(descriptor)
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return f"libcst cannot parse its file ({exc.message})"
    wanted = {function.qualname for function in functions}
    transformer = _MakeDef(wanted)
    fixed = tree.visit(transformer)
    ambiguous = sorted(q for q in wanted if transformer.seen.get(q, 0) != 1)
    if ambiguous:
        return f"its file defines {ambiguous[0]} more than once"
    result.changes[module.path] = Change(tree.code, fixed.code, tree.encoding)
    return ""


def _depth(tree: ast.AST) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _MakeDef(cst.CSTTransformer):
    """Drops `async` from the functions named, counting how often each qualified name is
    defined; nesting is followed as the index names it (`outer.inner`, `Class.method`)."""

    def __init__(self, wanted: set[str]) -> None:
        super().__init__()
        self.wanted = wanted
        self.path: list[str] = []
        self.seen: dict[str, int] = {}

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.path.append(node.name.value)
        return True

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self.path.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.path.append(node.name.value)
        qualname = ".".join(self.path)
        self.seen[qualname] = self.seen.get(qualname, 0) + 1
        return True

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        qualname = ".".join(self.path)
        self.path.pop()
        if qualname in self.wanted and updated_node.asynchronous is not None:
            return updated_node.with_changes(asynchronous=None)
        return updated_node
