"""What the analysis knows about the code: modules, classes and functions as indexed, the values
an expression can be known to hold, and one step of a chain of calls."""

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from fastapi_scaffold.check.blocking import Rule

FunctionNode: TypeAlias = ast.FunctionDef | ast.AsyncFunctionDef
PROPERTY_DECORATORS = frozenset({"property", "cached_property"})


@dataclass(frozen=True)
class Step:
    """One call on the way from a root to a blocking call."""

    path: str
    line: int
    column: int
    function: str
    call: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.call}"


@dataclass(eq=False)
class Module:
    name: str
    path: Path
    rel: str
    is_package: bool
    tree: ast.Module
    noqa: dict[int, frozenset[str] | None]
    imports: dict[str, str] = field(default_factory=dict)
    defs: dict[str, str] = field(default_factory=dict)  # name -> qualified name
    assigns: dict[str, ast.expr] = field(default_factory=dict)
    annotated: dict[str, ast.expr] = field(default_factory=dict)
    # Its dotted path under the checked directory, where that is longer than `name`: folders
    # without __init__.py (namespace packages) between the two.
    dotted: str = ""
    # Whether its function bodies are indexed at once (parsing.DECLARES), or when first asked.
    eager: bool = True


@dataclass(eq=False)
class Class:
    qname: str
    qualname: str
    node: ast.ClassDef
    module: Module
    parent: "Function | None"
    methods: dict[str, str] = field(default_factory=dict)
    body_annotations: dict[str, ast.expr] = field(default_factory=dict)
    body_assigns: dict[str, ast.expr] = field(default_factory=dict)
    # `self.x = ...` in methods: attribute -> (value or annotation, is annotation, method)
    self_assigns: dict[str, list[tuple[ast.expr, bool, str]]] = field(default_factory=dict)


@dataclass(eq=False)
class Function:
    qname: str
    qualname: str
    node: FunctionNode
    module: Module
    cls: Class | None
    parent: "Function | None"
    local_defs: dict[str, str] = field(default_factory=dict)
    # Calls that pass a parameter on, and `name = partial(...)` locals: is it a wrapper?
    handoffs: list[ast.Call] = field(default_factory=list)
    partials: dict[str, set[str]] = field(default_factory=dict)
    params: "dict[str, Value | None] | None" = None
    # Whether its body may declare a root (a call to FastAPI, Depends, include_router... or a
    # decorated definition): scanned whether reached or not.
    declares: bool = False
    indexed: bool = False  # its body walked for nested definitions and assignments (modules.py)
    # Filled by the scan (calls.py), run once a root reaches the function.
    scanned: bool = False
    edges: list[tuple[Step, str]] = field(default_factory=list)
    blocking: list[tuple[Step, Rule]] = field(default_factory=list)
    awaits: bool = False
    env: dict[str, "Value | None"] = field(default_factory=dict)

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def is_property(self) -> bool:
        """`@property` or `@cached_property`: reading the attribute calls it."""
        return not PROPERTY_DECORATORS.isdisjoint(self.decorator_names())

    def decorator_names(self) -> Iterator[str]:
        for decorator in self.node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute):
                yield target.attr
            elif isinstance(target, ast.Name):
                yield target.id


@dataclass(frozen=True)
class Ref:
    """A name: a module, function or class, of the project or not."""

    qname: str
    bound: bool = False  # a method reached through an instance: `self` is already given


@dataclass(frozen=True)
class Inst:
    """An instance of a type; `origin` names the variable it was assigned to (a router)."""

    type: str
    origin: str | None = None


@dataclass(frozen=True)
class Member:
    """An attribute of an instance of a type from outside the project: `session.execute`."""

    owner: str
    name: str

    @property
    def qname(self) -> str:
        return f"{self.owner}.{self.name}"


Value: TypeAlias = Ref | Inst | Member


@dataclass
class RootDecl:
    """A function the code hands to FastAPI to run: a route, a dependency, and so on."""

    kind: str
    function: str
    methods: str = ""
    path: str = ""
    router: str | None = None


def failure(exc: Exception) -> str:
    """What went wrong in checking one file or function, said in the line that names it: the
    rest of the project is checked all the same."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to follow"
    return f"internal error ({type(exc).__name__}: {exc}; please report it)"
