"""Finds blocking calls reachable from the event loop, reading the code with `ast` only: the
project's code is never imported, so checking it cannot start its database pools.

The passes, each in its own module:

1. files.py, parsing.py: the project's .py files, read safely and parsed once while unchanged
   (newer_syntax.py for code written for a newer Python than the running one).
2. modules.py: index every module: its imports, functions and classes (nested ones too).
3. roots.py: what each module's statements declare to FastAPI (routes, dependencies,
   middleware, lifespan, event and exception handlers).
4. calls.py: scan a function body for what it calls, what blocks, and the roots it declares,
   naming values with scopes.py (what a name, attribute or annotation stands for): first the
   bodies that may declare roots, then the roots themselves.
5. roots.py keeps the roots that run on the loop; calls.py walks the calls from each, scanning
   each function it reaches once and memoising what blocking calls it reaches; findings.py
   gives each its chain and its fix. A function no root reaches is never scanned.

A file or function that cannot be checked (unreadable, nested too deeply, or a fault of the
checker's met there) is named in `Project.errors`, and the rest is checked all the same.
"""

import gc
from pathlib import Path

from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.calls import scan
from fastapi_scaffold.check.files import DEFAULT_MAX_FILE_BYTES
from fastapi_scaffold.check.findings import Finding, findings
from fastapi_scaffold.check.roots import (
    Root,
    declare_middleware_roots,
    declare_module_roots,
    roots,
    wrappers,
)
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
        if function.declares:
            scan(project, function)
    declare_middleware_roots(project)
    for decl in list(project.roots):
        declared = project.functions.get(decl.function)
        if declared is not None:
            scan(project, declared)
            for wrapper in wrappers(project, declared):
                scan(project, project.functions[wrapper])
    found_roots = roots(project)
    return project, found_roots, findings(project, found_roots)
