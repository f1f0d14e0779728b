"""Finds blocking calls reachable from the event loop, reading the code with `ast` only: the
project's code is never imported, so checking it cannot start its database pools.

The passes, each in its own module:

1. files.py, parsing.py: the project's .py files, parsed once while unchanged.
2. modules.py: index every module: its imports, functions and classes (nested ones too).
3. roots.py: what each module's statements declare to FastAPI (routes, dependencies,
   middleware, lifespan, event and exception handlers).
4. calls.py: scan each function body once for what it calls, what blocks, and the roots it
   declares, naming values with scopes.py (what a name, attribute or annotation stands for).
5. roots.py keeps the roots that run on the loop; calls.py walks the calls from each, memoising
   per function what blocking calls it reaches; findings.py gives each its chain and its fix.
"""

import gc
from pathlib import Path

from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.calls import Scan
from fastapi_scaffold.check.findings import Finding, findings
from fastapi_scaffold.check.roots import Root, declare_module_roots, roots
from fastapi_scaffold.check.scopes import Project


def analyse(root: Path, rules: tuple[Rule, ...]) -> tuple[Project, list[Root], list[Finding]]:
    """Index, scan and walk the code under `root`; findings are not yet filtered."""
    # The syntax trees are millions of objects that live until the end: the cycle collector
    # walking them again and again would take as long as the analysis itself.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _analyse(root, rules)
    finally:
        if collecting:
            gc.enable()


def _analyse(root: Path, rules: tuple[Rule, ...]) -> tuple[Project, list[Root], list[Finding]]:
    project = Project(root, rules)
    project.load()
    declare_module_roots(project)
    for function in list(project.functions.values()):
        try:
            Scan(project, function).run()
        except RecursionError:  # an expression nested thousands deep: generated code
            function.edges.clear()
            function.blocking.clear()
            project.errors.append(
                f"{function.module.rel}:{function.node.lineno}: {function.qualname} is nested "
                "too deeply to follow; not checked"
            )
    found_roots = roots(project)
    return project, found_roots, findings(project, found_roots)
