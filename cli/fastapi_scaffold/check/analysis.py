"""Finds blocking calls reachable from the event loop, reading the code with `ast` only: the
project's code is never imported, so checking it cannot start its database pools.

The passes, each in its own module:

1. files.py, parsing.py: the project's .py files, read safely and parsed once while unchanged
   (newer_syntax.py for code written for a newer Python than the running one).
2. modules.py: index every module: its imports, functions and classes (nested ones too).
3. roots.py: what each module's statements declare to FastAPI (routes, dependencies,
   middleware, lifespan, event and exception handlers).
4. calls.py: scan each function body once for what it calls, what blocks, and the roots it
   declares, naming values with scopes.py (what a name, attribute or annotation stands for).
5. roots.py keeps the roots that run on the loop; calls.py walks the calls from each, memoising
   per function what blocking calls it reaches; findings.py gives each its chain and its fix.

A file or function that cannot be checked (unreadable, nested too deeply, or a fault of the
checker's met there) is named in `Project.errors`, and the rest is checked all the same.
"""

import gc
from pathlib import Path

from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.calls import Scan
from fastapi_scaffold.check.files import DEFAULT_MAX_FILE_BYTES
from fastapi_scaffold.check.findings import Finding, findings
from fastapi_scaffold.check.model import failure
from fastapi_scaffold.check.roots import Root, declare_module_roots, roots
from fastapi_scaffold.check.scopes import Project


def analyse(
    root: Path, rules: tuple[Rule, ...], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[Project, list[Root], list[Finding]]:
    """Index, scan and walk the code under `root`; findings are not yet filtered."""
    # The syntax trees are millions of objects that live until the end: the cycle collector
    # walking them again and again would take as long as the analysis itself.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _analyse(root, rules, max_file_bytes)
    finally:
        if collecting:
            gc.enable()


def _analyse(
    root: Path, rules: tuple[Rule, ...], max_file_bytes: int
) -> tuple[Project, list[Root], list[Finding]]:
    project = Project(root, rules, max_file_bytes)
    project.load()
    declare_module_roots(project)
    for function in list(project.functions.values()):
        try:
            Scan(project, function).run()
        except Exception as exc:  # nested thousands deep, or a fault of the checker's: go on
            function.edges.clear()
            function.blocking.clear()
            where = f"{function.module.rel}:{function.node.lineno}: {function.qualname}"
            project.errors.append(f"{where}: {failure(exc)}; not checked")
    found_roots = roots(project)
    return project, found_roots, findings(project, found_roots)
