"""Findings: a blocking call reachable from a root, with the chain of calls that leads there and
the fix the decision table gives."""

from dataclasses import dataclass

from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.calls import reach
from fastapi_scaffold.check.model import Step, failure
from fastapi_scaffold.check.roots import Root
from fastapi_scaffold.check.scopes import Project


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
    for root in roots:
        try:
            reached = reach(project, root.qname)
        except Exception as exc:  # a call chain thousands deep, or a fault of the checker's
            where = f"{root.path}:{root.line}: {root.function}"
            project.errors.append(f"{where}: {failure(exc)}; its calls not followed")
            continue
        for chain, rule in reached.values():
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
