"""Findings: a blocking call reachable from a root, with the chain of calls that leads there and
the fix the decision table gives."""

import ast
from dataclasses import dataclass

from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.calls import reach, scan
from fastapi_scaffold.check.hierarchy import implementations
from fastapi_scaffold.check.model import Function, Step, failure
from fastapi_scaffold.check.roots import Root
from fastapi_scaffold.check.scopes import Project
from fastapi_scaffold.check.syntax import all_args

# Roots that run once, at start-up: what they run first is warm for the routes after.
START = frozenset({"lifespan", "startup"})
CACHES = frozenset({"cache", "lru_cache"})


@dataclass(frozen=True)
class Finding:
    """A blocking call reachable from a root, with the calls that lead there."""

    rule: Rule
    root: Root
    chain: tuple[Step, ...]
    fix: str
    # Other blocking calls reached through the same call in the root, not reported apart: the
    # fix is at that call. `others` holds each one's rule and chain, so that it is named all
    # the same.
    more: int = 0
    others: tuple[tuple[Rule, tuple[Step, ...]], ...] = ()

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def call(self) -> Step:
        """The blocking call itself."""
        return self.chain[-1]

    @property
    def message(self) -> str:
        return f"`{self.call.call}` blocks the event loop in {self.root.label}: {self.rule.summary}"


def findings(project: Project, roots: list[Root]) -> list[Finding]:
    """Every blocking call each root reaches, by where the call is; not yet filtered."""
    found = []
    warmed = warmed_at_start(project, roots)
    for root in roots:
        try:
            reached = reach(project, root.qname)
        except Exception as exc:  # a call chain thousands deep, or a fault of the checker's
            where = f"{root.path}:{root.line}: {root.function}"
            project.errors.append(f"{where}: {failure(exc)}; its calls not followed")
            continue
        for chain, rule in reached.values():
            if root.kind not in START and any((s.path, s.function) in warmed for s in chain[1:]):
                continue  # it ran once, at start-up, where it is reported
            found.append(Finding(rule, root, chain, fix(root, chain, rule)))
    found.sort(key=lambda f: (f.call.path, f.call.line, f.call.column, f.root.label))
    return found


def fix(root: Root, chain: tuple[Step, ...], rule: Rule) -> str:
    """The decision table: `def` when the handler only uses blocking libraries; offload when it
    also awaits async ones; either way, the async library is the lasting fix."""
    name = root.function.rpartition(".")[2]
    if root.may_be_def and not root.awaits:
        first = f"make `{name}` a plain `def`: FastAPI then runs it in its thread pool"
    else:
        first = (
            f"offload it: `await anyio.to_thread.run_sync({chain[0].call}, ...)` "
            "(or `await run_in_threadpool(...)`)"
        )
    return f"{first}; or use {rule.instead}"


def warmed_at_start(project: Project, roots: list[Root]) -> set[tuple[str, str]]:
    """The functions that run once and that start-up (lifespan, startup handlers) already ran:
    a route calling them later gets the cached value and does not block. By (path, name), as
    steps name them."""
    seen: set[str] = set()
    stack = [root.qname for root in roots if root.kind in START]
    warmed: set[tuple[str, str]] = set()
    while stack:
        qname = stack.pop()
        if qname in seen or qname not in project.functions:
            continue
        seen.add(qname)
        function = project.functions[qname]
        scan(project, function)
        if runs_once(function):
            warmed.add((function.module.rel, function.qualname))
        stack.extend(target for _, target in function.edges)
        stack.extend(implementations(project, qname))
    return warmed


def runs_once(function: Function) -> bool:
    """`@cache`/`@lru_cache` with no argument to key on, or a lazy singleton: `global x`, then
    `if x is None:` (or `if not x:`) to build it."""
    node = function.node
    if not CACHES.isdisjoint(function.decorator_names()):
        params = [a for a in all_args(node.args) if a.arg not in {"self", "cls"}]
        return not params
    globals_: set[str] = set()
    for statement in ast.walk(node):
        if isinstance(statement, ast.Global):
            globals_.update(statement.names)
    if not globals_:
        return False
    for statement in ast.walk(node):
        if isinstance(statement, ast.If) and _tests_unset(statement.test, globals_):
            return True
    return False


def _tests_unset(test: ast.expr, names: set[str]) -> bool:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return isinstance(test.operand, ast.Name) and test.operand.id in names
    if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name):
        return (
            test.left.id in names
            and isinstance(test.ops[0], ast.Is)
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value is None
        )
    if isinstance(test, ast.BoolOp):
        return any(_tests_unset(value, names) for value in test.values)
    return False
