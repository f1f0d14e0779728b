"""Finds blocking calls reachable from the event loop, reading the code with `ast` only: the
project's code is never imported, so checking it cannot start its database pools.

Three passes: index every module (imports, functions, classes); scan each function once for
what it calls, what blocks, and what FastAPI runs on the loop (routes, dependencies,
middleware, lifespan, event and exception handlers); then walk the calls from each of those
roots, memoising per function what blocking calls it reaches.
"""

import ast
import gc
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from fastapi_scaffold.check import blocking
from fastapi_scaffold.check.blocking import Rule

# Directories never checked: virtual environments, caches, build output, VCS data.
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "build", "dist", "site-packages", "venv", "env"}
)

APP_TYPES = frozenset(
    {
        "fastapi.FastAPI",
        "fastapi.applications.FastAPI",
        "fastapi.APIRouter",
        "fastapi.routing.APIRouter",
        "starlette.applications.Starlette",
        "starlette.routing.Router",
    }
)
DEPENDS = frozenset(
    {
        "fastapi.Depends",
        "fastapi.Security",
        "fastapi.params.Depends",
        "fastapi.params.Security",
        "fastapi.param_functions.Depends",
        "fastapi.param_functions.Security",
    }
)
MIDDLEWARE = frozenset({"starlette.middleware.Middleware", "fastapi.middleware.Middleware"})
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "trace"})
PARTIAL = "functools.partial"
CLOSING = "contextlib.closing"
# Types whose element or value is the type wanted: `Iterator[Session]` of a dependency that
# yields a Session, `Annotated[Session, Depends(...)]`, `Session | None`.
UNWRAP = frozenset(
    {
        "typing.Annotated",
        "typing_extensions.Annotated",
        "typing.Optional",
        "typing.Union",
        "typing.Iterator",
        "typing.Iterable",
        "typing.Generator",
        "typing.AsyncIterator",
        "typing.AsyncIterable",
        "typing.AsyncGenerator",
        "typing.ContextManager",
        "typing.AsyncContextManager",
        "typing.Awaitable",
        "collections.abc.Iterator",
        "collections.abc.Iterable",
        "collections.abc.Generator",
        "collections.abc.AsyncIterator",
        "collections.abc.AsyncIterable",
        "collections.abc.AsyncGenerator",
        "collections.abc.Awaitable",
        "contextlib.AbstractContextManager",
        "contextlib.AbstractAsyncContextManager",
    }
)
# Builtins that call the function they are given, there and then, on the caller's thread.
CALLS_NOW = frozenset({"builtins.map", "builtins.filter", "builtins.sorted", "builtins.min"})
NOQA = re.compile(r"#\s*noqa(?::[\s]*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)

FunctionNode: TypeAlias = ast.FunctionDef | ast.AsyncFunctionDef


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


@dataclass(frozen=True)
class Root:
    """Code FastAPI runs on the event loop: a route handler, a dependency, and so on."""

    kind: str
    label: str
    path: str
    line: int
    function: str  # as written: "Timing.dispatch"
    qname: str  # with its module: "shop.main.Timing.dispatch"
    # Whether FastAPI would run a `def` version in its thread pool (routes, dependencies,
    # exception handlers), so that making it `def` is a fix.
    may_be_def: bool
    awaits: bool


@dataclass(frozen=True)
class Finding:
    """A blocking call reachable from a root, with the calls that lead there."""

    rule: Rule
    root: Root
    chain: tuple[Step, ...]
    fix: str
    # Other blocking calls reached through the same call in the root, not reported apart: the
    # fix is at that call.
    more: int = 0

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


def python_files(root: Path) -> Iterator[Path]:
    """The project's .py files, in a stable order, without virtualenvs, caches or VCS data."""
    if root.is_file():
        yield root
        return
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(
            name for name in subdirs if not name.startswith(".") and name not in SKIP_DIRS
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory, name)


# ---------------------------------------------------------------------------------------------
# The index: modules, their functions and classes


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
    # Filled by the scan.
    edges: list[tuple[Step, str]] = field(default_factory=list)
    blocking: list[tuple[Step, Rule]] = field(default_factory=list)
    awaits: bool = False
    env: dict[str, "Value | None"] = field(default_factory=dict)

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

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
    kind: str
    function: str
    methods: str = ""
    path: str = ""
    router: str | None = None


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    """The dotted name an import would use: up through the packages (`__init__.py`) above."""
    is_package = path.name == "__init__.py"
    parts = [] if is_package else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory != directory.parent:
        parts.insert(0, directory.name)
        if directory == root:
            break
        directory = directory.parent
    return ".".join(parts) or path.stem, is_package


def _rel(path: Path, root: Path) -> str:
    base = root if root.is_dir() else root.parent
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _text(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


class Project:
    """Everything known about the code under a path, and the questions asked of it."""

    def __init__(self, root: Path, rules: tuple[Rule, ...]) -> None:
        self.root = root
        self.rules = rules
        self.modules: dict[str, Module] = {}
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, Class] = {}
        self.errors: list[str] = []
        self.files = 0
        self.lines = 0
        self.has_app = False
        self.roots: list[RootDecl] = []
        self.prefixes: dict[str, str] = {}
        self.includes: dict[str, tuple[str | None, str]] = {}
        self._qnames: dict[str, Value | None] = {}
        self._globals: dict[tuple[str, str], Value | None] = {}
        self._attrs: dict[tuple[str, str], Value | None] = {}
        self._returns: dict[str, str | None] = {}
        self._offloaded: dict[str, frozenset[str]] = {}
        self._rules: dict[str, Rule | None] = {}
        self.properties: set[str] = set()  # names of the project's properties
        self._reach: dict[str, dict[tuple[str, int, int, str], tuple[tuple[Step, ...], Rule]]]
        self._reach = {}

    # -- loading --------------------------------------------------------------------------

    def load(self) -> None:
        modules: list[Module] = []
        for path in python_files(self.root):
            parsed = parse(path)
            self.files += 1
            self.lines += parsed.lines
            rel = _rel(path, self.root)
            if parsed.tree is None:
                line, message = parsed.error or (1, "invalid syntax")
                self.errors.append(f"{rel}:{line}: syntax error ({message}); file not checked")
                continue
            name, is_package = _module_name(path, self.root)
            module = Module(name, path, rel, is_package, parsed.tree, parsed.noqa)
            self.modules.setdefault(name, module)
            # Also by its path under the checked directory, for projects run from there
            # whose packages lack __init__.py.
            if self.root.is_dir():
                dotted = ".".join(Path(rel).with_suffix("").parts)
                dotted = dotted.removesuffix(".__init__")
                self.modules.setdefault(dotted, module)
            modules.append(module)
        for module in modules:
            self._index(module)

    def _index(self, module: Module) -> None:
        for node in _top_level(module.tree.body):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._import(module, node, module.imports)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        module.assigns[target.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    module.assigns[node.target.id] = node.value
                else:
                    module.annotated[node.target.id] = node.annotation
        self._index_body(module, module.tree.body, module.name, "", None, None, module.defs)

    def _index_body(
        self,
        module: Module,
        body: list[ast.stmt],
        prefix: str,
        qualprefix: str,
        parent: Function | None,
        cls: Class | None,
        names: dict[str, str],
    ) -> None:
        for node in _defs(body):
            qname = f"{prefix}.{node.name}"
            qualname = f"{qualprefix}{node.name}"
            names[node.name] = qname
            if isinstance(node, ast.ClassDef):
                klass = Class(qname, qualname, node, module, parent)
                self.classes[qname] = klass
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        klass.body_annotations[item.target.id] = item.annotation
                    elif isinstance(item, ast.Assign):
                        for target in item.targets:
                            if isinstance(target, ast.Name):
                                klass.body_assigns[target.id] = item.value
                self._index_body(module, node.body, qname, f"{qualname}.", parent, klass, {})
                klass.methods = {
                    n.name: f"{qname}.{n.name}"
                    for n in node.body
                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                }
                for method in klass.methods.values():
                    decorators = set(self.functions[method].decorator_names())
                    if decorators & {"property", "cached_property"}:
                        self.properties.add(method.rpartition(".")[2])
            else:
                function = Function(qname, qualname, node, module, cls, parent)
                self.functions[qname] = function
                nested = self._index_function(function)
                self._index_body(
                    module, nested, f"{qname}.<locals>", f"{qualname}.", function, None,
                    function.local_defs,
                )  # fmt: skip

    def _index_function(self, function: Function) -> list[ast.stmt]:
        """One walk over a function's body for what other functions' scans ask of it: the
        functions and classes nested in it, `self.x = ...` (the types of its class's
        attributes), and the calls that hand a parameter over (is it a wrapper of
        `anyio.to_thread.run_sync`?). Returns the nested definitions."""
        args = function.node.args
        params = {a.arg for a in _all_args(args)}
        positional = args.posonlyargs + args.args
        me = positional[0].arg if function.cls is not None and positional else None
        nested: list[ast.stmt] = []
        stack: list[ast.AST] = list(reversed(function.node.body))
        while stack:
            node = stack.pop()
            kind = type(node)
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.ClassDef:
                nested.append(node)  # type: ignore[arg-type]
                continue
            if kind is ast.Call and params:
                assert isinstance(node, ast.Call)
                if _names(node) & (params | function.partials.keys()):
                    function.handoffs.append(node)
            elif kind is ast.Assign or kind is ast.AnnAssign:
                assert isinstance(node, ast.Assign | ast.AnnAssign)
                self._assignment(function, node, me)
            stack.extend(_children(node))
        nested.sort(key=lambda n: (n.lineno, n.col_offset))
        return nested

    def _assignment(
        self, function: Function, node: ast.Assign | ast.AnnAssign, me: str | None
    ) -> None:
        if isinstance(node, ast.Assign):
            targets, value, annotation = node.targets, node.value, False
            if (
                len(targets) == 1
                and isinstance(targets[0], ast.Name)
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute | ast.Name)
                and (value.func.attr if isinstance(value.func, ast.Attribute) else value.func.id)
                == "partial"
            ):
                function.partials[targets[0].id] = _names(value)
        else:
            targets, value, annotation = [node.target], node.annotation, True
        if me is None or function.cls is None:
            return
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == me
            ):
                function.cls.self_assigns.setdefault(target.attr, []).append(
                    (value, annotation, function.qname)
                )

    def _import(
        self, module: Module, node: ast.Import | ast.ImportFrom, into: dict[str, "str"]
    ) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    into[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    into[top] = top
            return
        base = node.module or ""
        if node.level:
            package = module.name if module.is_package else module.name.rpartition(".")[0]
            parts = package.split(".") if package else []
            if node.level > 1:
                parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        for alias in node.names:
            if alias.name != "*":
                into[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name

    # -- names and values -----------------------------------------------------------------

    def resolve(self, qname: str, depth: int = 0) -> Value | None:
        """What a dotted name stands for: something of the project's, or an outside name."""
        if qname in self._qnames:
            return self._qnames[qname]
        if qname in self.functions or qname in self.classes or qname in self.modules:
            return Ref(qname)
        self._qnames[qname] = None  # an import cycle resolves to nothing
        parts = qname.split(".")
        value: Value | None = Ref(blocking.canonical(qname))
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.modules:
                found: Value | None = Ref(prefix)
                for part in parts[i:]:
                    found = self.attribute(found, part, depth + 1)
                    if found is None:
                        break
                value = found
                break
        self._qnames[qname] = value
        return value

    def module_attr(self, module: Module, name: str, depth: int = 0) -> Value | None:
        if name in module.defs:
            return Ref(module.defs[name])
        if name in module.imports:
            return self.resolve(module.imports[name], depth + 1)
        if name in module.assigns:
            return self.global_value(module, name)
        if name in module.annotated:
            found = self.annotation(module.annotated[name], Scope(self, module))
            return Inst(found) if found else None
        submodule = f"{module.name}.{name}"
        if submodule in self.modules:
            return Ref(submodule)
        return None

    def global_value(self, module: Module, name: str) -> Value | None:
        key = (module.name, name)
        if key in self._globals:
            return self._globals[key]
        self._globals[key] = None
        value = Scope(self, module).value(module.assigns[name])
        if isinstance(value, Inst) and value.origin is None:
            value = Inst(value.type, f"{module.name}.{name}")
        self._globals[key] = value
        return value

    def attribute(self, base: Value | None, name: str, depth: int = 0) -> Value | None:
        """`base.name`, as far as it can be told without running anything."""
        if base is None or depth > 50:
            return None
        if isinstance(base, Member):
            return Member(base.qname, name)
        if isinstance(base, Inst):
            klass = self.classes.get(base.type)
            if klass is None:
                qname = f"{base.type}.{name}"
                if qname in blocking.PROPERTIES:
                    return Inst(blocking.RETURNS[qname])
                return Member(base.type, name)
            method = self.method(klass, name)
            if method is not None:
                function = self.functions[method]
                if {"property", "cached_property"} & set(function.decorator_names()):
                    returned = self.returns(function)
                    return Inst(returned) if returned else None
                return Ref(method, bound=True)
            found = self.class_attr(klass, name)
            if found is not None:
                return found
            external = self.external_base(klass)
            return Member(external, name) if external else None
        qname = base.qname
        if qname in self.modules:
            return self.module_attr(self.modules[qname], name, depth)
        if qname in self.classes:
            klass = self.classes[qname]
            method = self.method(klass, name)
            if method is not None:
                return Ref(method)
            if name in klass.body_assigns or name in klass.body_annotations:
                return self.class_attr(klass, name)
            nested = f"{qname}.{name}"
            return Ref(nested) if nested in self.classes else None
        if qname in self.functions:
            function = self.functions[qname]
            if set(function.decorator_names()) & blocking.TASK_DECORATORS:
                return Member(blocking.TASK_TYPE, name)
            return None
        return Ref(blocking.canonical(f"{qname}.{name}"))

    def method(self, klass: Class, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The method `name` of a project class, inherited from project classes too."""
        if name in klass.methods:
            return klass.methods[name]
        for base in self.bases(klass):
            if base in self.classes and base not in seen:
                found = self.method(self.classes[base], name, seen | {klass.qname})
                if found:
                    return found
        return None

    def bases(self, klass: Class) -> list[str]:
        scope = self.class_scope(klass)
        found = []
        for base in klass.node.bases:
            value = scope.value(base)
            if isinstance(value, Ref):
                found.append(value.qname)
        return found

    def external_base(self, klass: Class, seen: frozenset[str] = frozenset()) -> str | None:
        for base in self.bases(klass):
            if base in self.classes:
                if base not in seen:
                    found = self.external_base(self.classes[base], seen | {klass.qname})
                    if found:
                        return found
            elif base not in {"builtins.object", "typing.Generic", "typing.Protocol"}:
                return base
        return None

    def class_scope(self, klass: Class) -> "Scope":
        if klass.parent is not None:
            return FunctionScope(self, klass.parent)
        return Scope(self, klass.module)

    def class_attr(self, klass: Class, name: str, depth: int = 0) -> Value | None:
        key = (klass.qname, name)
        if key in self._attrs:
            return self._attrs[key]
        self._attrs[key] = None
        value: Value | None = None
        scope = self.class_scope(klass)
        if name in klass.body_annotations:
            found = self.annotation(klass.body_annotations[name], scope)
            value = Inst(found) if found else None
        if value is None and name in klass.body_assigns:
            value = scope.value(klass.body_assigns[name])
        for expr, is_annotation, method in klass.self_assigns.get(name, []):
            if value is not None:
                break
            method_scope = FunctionScope(self, self.functions[method])
            if is_annotation:
                found = self.annotation(expr, method_scope)
                value = Inst(found) if found else None
            else:
                value = method_scope.value(expr)
        if value is None and depth < 20:
            for base in self.bases(klass):
                if base in self.classes:
                    value = self.class_attr(self.classes[base], name, depth + 1)
                    if value is not None:
                        break
        self._attrs[key] = value
        return value

    def annotation(self, node: ast.expr | None, scope: "Scope", depth: int = 0) -> str | None:
        """The type an annotation gives: a project class or an outside type, its canonical
        name; through `Annotated[...]`, `X | None`, `Iterator[X]` and type aliases."""
        if node is None or depth > 20:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                try:
                    parsed = ast.parse(node.value, mode="eval").body
                except SyntaxError:
                    return None
                return self.annotation(parsed, scope, depth + 1)
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            if isinstance(node.left, ast.Constant) and node.left.value is None:
                return self.annotation(node.right, scope, depth + 1)
            return self.annotation(node.left, scope, depth + 1)
        if isinstance(node, ast.Subscript):
            base = scope.value(node.value)
            if isinstance(base, Ref) and base.qname in UNWRAP:
                inner = node.slice
                elements = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                for element in elements:
                    if not (isinstance(element, ast.Constant) and element.value is None):
                        return self.annotation(element, scope, depth + 1)
                return None
            return self.annotation(node.value, scope, depth + 1)
        if isinstance(node, ast.Name | ast.Attribute):
            alias = self._alias(node, scope)
            if alias is not None:
                expr, module = alias
                return self.annotation(expr, Scope(self, module), depth + 1)
            value = scope.value(node)
            if isinstance(value, Ref):
                return value.qname
            if isinstance(value, Inst) and value.origin is None:
                return value.type
        return None

    def _alias(self, node: ast.expr, scope: "Scope") -> tuple[ast.expr, Module] | None:
        """The expression a module-level type alias (`DbPool = Annotated[...]`) stands for."""
        module: Module | None = None
        name = ""
        if isinstance(node, ast.Name):
            if isinstance(scope, FunctionScope) and scope.lookup_local(node.id)[0]:
                return None
            module, name = scope.module, node.id
        elif isinstance(node, ast.Attribute):
            base = scope.value(node.value)
            if isinstance(base, Ref) and base.qname in self.modules:
                module, name = self.modules[base.qname], node.attr
        for _ in range(20):
            if module is None:
                return None
            if name in module.assigns:
                expr = module.assigns[name]
                if _looks_like_type(expr):
                    return expr, module
                return None
            if name in module.imports:
                target = module.imports[name]
                owner, _, name = target.rpartition(".")
                module = self.modules.get(owner)
                continue
            return None
        return None

    def returns(self, function: Function) -> str | None:
        """The type a function returns (what it yields, for generators and context managers)."""
        if function.qname in self._returns:
            return self._returns[function.qname]
        self._returns[function.qname] = None
        outer = FunctionScope(self, function.parent) if function.parent else None
        scope = outer or Scope(self, function.module)
        found = self.annotation(function.node.returns, scope)
        self._returns[function.qname] = found
        return found

    def rule_for(self, qname: str) -> Rule | None:
        if qname not in self._rules:
            self._rules[qname] = blocking.rule_for(qname, self.rules)
        return self._rules[qname]

    def offloaded_params(self, function: Function) -> frozenset[str]:
        """The parameters a project function hands to a worker thread: a wrapper such as
        `run_sync(func, *args)` over `anyio.to_thread.run_sync`."""
        if function.qname in self._offloaded:
            return self._offloaded[function.qname]
        self._offloaded[function.qname] = frozenset()
        params = {a.arg for a in _all_args(function.node.args)}
        found: set[str] = set()
        scope = FunctionScope(self, function) if function.handoffs else None
        for node in function.handoffs:
            assert scope is not None
            offloaded = scope.offload_spec(node)
            if not offloaded:
                continue
            for position, arg in _arguments(node):
                if offloaded != "all" and position not in offloaded:
                    continue
                names = _names(arg)
                for name in list(names):
                    names |= function.partials.get(name, set())
                found |= names & params
        result = frozenset(found)
        self._offloaded[function.qname] = result
        return result

    # -- reachability ---------------------------------------------------------------------

    def reach(
        self, qname: str, active: set[str] | None = None
    ) -> dict[tuple[str, int, int, str], tuple[tuple[Step, ...], Rule]]:
        """Every blocking call a function reaches on the loop, each with its shortest chain
        found; memoised, so a function shared by many routes is walked once."""
        if qname in self._reach:
            return self._reach[qname]
        active = active if active is not None else set()
        if qname in active:
            return {}
        active.add(qname)
        function = self.functions[qname]
        found: dict[tuple[str, int, int, str], tuple[tuple[Step, ...], Rule]] = {}
        for step, rule in function.blocking:
            found.setdefault((step.path, step.line, step.column, step.call), ((step,), rule))
        for step, target in function.edges:
            for key, (chain, rule) in self.reach(target, active).items():
                new = (step, *chain)
                if key not in found or len(found[key][0]) > len(new):
                    found[key] = (new, rule)
        active.discard(qname)
        self._reach[qname] = found
        return found


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, those under `if`/`try` (TYPE_CHECKING, fallbacks) included."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body)
            for handler in node.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(node.orelse)
        else:
            yield node


def _defs(body: list[ast.stmt]) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    for node in _top_level(body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node
        elif isinstance(node, ast.With | ast.AsyncWith | ast.For | ast.AsyncFor | ast.While):
            yield from _defs(node.body)


# Per node type, the fields that may hold nodes worth visiting: not `ctx`, operators, names or
# constants. `ast.iter_child_nodes` yields all of those too, and walking them is most of a
# pass's time on a large project.
_SKIP = (ast.expr_context, ast.operator, ast.boolop, ast.cmpop, ast.unaryop, ast.Name, ast.Constant)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _children(node: ast.AST) -> list[ast.AST]:
    """The child nodes of `node` that can hold a call, a definition or an assignment."""
    kind = type(node)
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = _FIELDS[kind] = tuple(f for f in kind._fields if f not in {"ctx", "op", "ops"})
    found: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            found.extend(v for v in value if isinstance(v, ast.AST) and not isinstance(v, _SKIP))
        elif isinstance(value, ast.AST) and not isinstance(value, _SKIP):
            found.append(value)
    return found


def _all_args(args: ast.arguments) -> list[ast.arg]:
    found = args.posonlyargs + args.args
    if args.vararg:
        found.append(args.vararg)
    found += args.kwonlyargs
    if args.kwarg:
        found.append(args.kwarg)
    return found


def _arguments(call: ast.Call) -> Iterator[tuple[int | str, ast.expr]]:
    yield from enumerate(call.args)
    for keyword in call.keywords:
        yield keyword.arg or "**", keyword.value


def _names(node: ast.expr) -> set[str]:
    """The bare names a callable argument hands over: `f`, `*args`, `partial(f, *args)`."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Starred):
        return _names(node.value)
    if isinstance(node, ast.Call):
        found: set[str] = set()
        for _, arg in _arguments(node):
            found |= _names(arg)
        return found
    return set()


def _is_ref(value: Value | None, qname: str) -> bool:
    return isinstance(value, Ref) and value.qname == qname


def _looks_like_type(expr: ast.expr) -> bool:
    """Whether a module-level assignment is a type alias rather than a value."""
    if isinstance(expr, ast.Subscript | ast.Name | ast.Attribute):
        return True
    return isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr)


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _keyword(call: ast.Call, name: str, position: int | None = None) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


# ---------------------------------------------------------------------------------------------
# Scopes: name lookup in a module, and in a function as its body runs


class Scope:
    """Name lookup at module level."""

    def __init__(self, project: Project, module: Module) -> None:
        self.project = project
        self.module = module

    def lookup(self, name: str) -> Value | None:
        value = self.project.module_attr(self.module, name)
        if value is None and name not in self.module.assigns:
            return Ref(f"builtins.{name}")
        return value

    def value(self, node: ast.expr) -> Value | None:
        """What an expression evaluates to, as far as can be told."""
        project = self.project
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return project.attribute(self.value(node.value), node.attr)
        if isinstance(node, ast.Call):
            return self.call_value(node)
        if isinstance(node, ast.Await | ast.NamedExpr):
            return self.value(node.value)
        if isinstance(node, ast.BoolOp):
            for operand in node.values:
                found = self.value(operand)
                if found is not None:
                    return found
            return None
        if isinstance(node, ast.IfExp):
            return self.value(node.body) or self.value(node.orelse)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left = self.value(node.left)
            if isinstance(left, Inst) and left.type == "pathlib.Path":
                return left
        return None

    def call_value(self, node: ast.Call) -> Value | None:
        project = self.project
        callee = self.value(node.func)
        if callee is None:
            return None
        if isinstance(callee, Ref):
            qname = callee.qname
            if qname in project.classes:
                return Inst(qname)
            if qname in project.functions:
                returned = project.returns(project.functions[qname])
                return Inst(returned) if returned else None
            if qname == PARTIAL and node.args:
                return self.value(node.args[0])
            if qname == CLOSING and node.args:
                return self.value(node.args[0])
            if qname in blocking.RETURNS:
                return Inst(blocking.RETURNS[qname])
            if qname.rpartition(".")[2][:1].isupper():
                return Inst(qname)
            return None
        if isinstance(callee, Inst):
            returned = blocking.RETURNS.get(f"{callee.type}.__call__")
            if returned:
                return Inst(returned)
            klass = project.classes.get(callee.type)
            if klass is not None:
                method = project.method(klass, "__call__")
                if method:
                    found = project.returns(project.functions[method])
                    return Inst(found) if found else None
            return None
        returned = blocking.RETURNS.get(blocking.canonical(callee.qname))
        return Inst(returned) if returned else None

    def offload_spec(
        self, call: ast.Call, callee: "Value | bool | None" = False
    ) -> frozenset[int | str] | str | None:
        """Which arguments of a call go to a worker thread: "all" for the offloading APIs,
        some positions for a project's wrapper of them, None for an ordinary call."""
        if callee is False:
            callee = self.value(call.func)
        if isinstance(callee, Ref):
            if callee.qname in blocking.OFFLOADERS:
                return "all"
            function = self.project.functions.get(callee.qname)
            if function is not None:
                params = self.project.offloaded_params(function)
                if not params:
                    return None
                positional = [
                    a.arg for a in function.node.args.posonlyargs + function.node.args.args
                ]
                if callee.bound or (function.cls is not None and _is_method_call(call)):
                    positional = positional[1:]
                positions: set[int | str] = set(params)
                positions |= {i for i, name in enumerate(positional) if name in params}
                vararg = function.node.args.vararg
                if vararg is not None and vararg.arg in params:
                    positions |= set(range(len(positional), len(positional) + len(call.args)))
                return frozenset(positions)
            return None
        if isinstance(callee, Member) and callee.name in blocking.OFFLOADING_METHODS:
            return "all"
        if (
            callee is None
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in blocking.OFFLOADING_METHODS
        ):
            return "all"
        return None


def _is_method_call(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute)


class FunctionScope(Scope):
    """Name lookup inside a function: its parameters and locals first, as far as assigned."""

    def __init__(self, project: Project, function: Function) -> None:
        super().__init__(project, function.module)
        self.function = function
        if function.env:
            self.env = function.env
        else:
            if function.params is None:
                function.params = {}  # a default naming the function itself finds nothing
                function.params = self.params()
            self.env = function.params

    def params(self) -> dict[str, Value | None]:
        function = self.function
        args = function.node.args
        outer: Scope = (
            FunctionScope(self.project, function.parent)
            if function.parent is not None
            else Scope(self.project, function.module)
        )
        env: dict[str, Value | None] = {}
        positional = args.posonlyargs + args.args
        decorators = set(function.decorator_names())
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
        defaults += args.defaults
        pairs = list(zip(positional, defaults, strict=True))
        pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
        for i, (arg, default) in enumerate(pairs):
            if i == 0 and function.cls is not None and "staticmethod" not in decorators:
                is_class = "classmethod" in decorators
                env[arg.arg] = Ref(function.cls.qname) if is_class else Inst(function.cls.qname)
                continue
            found = self.project.annotation(arg.annotation, outer)
            if found is None and isinstance(default, ast.Call):
                found = self._dependency_type(default, outer)
            env[arg.arg] = Inst(found) if found else None
        for extra in (args.vararg, args.kwarg):
            if extra is not None:
                env[extra.arg] = None
        return env

    def _dependency_type(self, default: ast.Call, outer: Scope) -> str | None:
        callee = outer.value(default.func)
        if isinstance(callee, Ref) and callee.qname in DEPENDS:
            target = _keyword(default, "dependency", 0)
            value = outer.value(target) if target is not None else None
            if isinstance(value, Ref) and value.qname in self.project.functions:
                return self.project.returns(self.project.functions[value.qname])
            if isinstance(value, Ref) and value.qname in self.project.classes:
                return value.qname
        return None

    def lookup_local(self, name: str) -> tuple[bool, Value | None]:
        function: Function | None = self.function
        env: dict[str, Value | None] | None = self.env
        while function is not None:
            if env is not None and name in env:
                return True, env[name]
            if name in function.local_defs:
                return True, Ref(function.local_defs[name])
            function = function.parent
            env = function.env if function is not None and function.env else None
            if function is not None and env is None:
                env = FunctionScope(self.project, function).env
        return False, None

    def lookup(self, name: str) -> Value | None:
        found, value = self.lookup_local(name)
        if found:
            return value
        return super().lookup(name)


# ---------------------------------------------------------------------------------------------
# The scan: one pass over each function body


class Scan(FunctionScope):
    """Walks one function's body in order, tracking what its locals hold, and records its calls
    to project functions, its blocking calls, and the roots it declares."""

    def __init__(self, project: Project, function: Function) -> None:
        super().__init__(project, function)
        self.env = dict(self.env)
        function.env = self.env

    def run(self) -> None:
        for node in self.function.node.body:
            self.stmt(node)

    # statements

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.declare(node, self.function.local_defs.get(node.name))
            return
        if isinstance(node, ast.ClassDef):
            for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                self.expr(expr)
            return
        if isinstance(node, ast.Assign):
            self.expr(node.value)
            for target in node.targets:
                self.bind(target, node.value)
            return
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value)
            if isinstance(node.target, ast.Name):
                found = self.project.annotation(node.annotation, self)
                if found:
                    self.env[node.target.id] = Inst(found)
                elif node.value is not None:
                    self.bind(node.target, node.value)
            return
        if isinstance(node, ast.With | ast.AsyncWith):
            if isinstance(node, ast.AsyncWith):
                self.function.awaits = True
            for item in node.items:
                self.expr(item.context_expr, awaited=isinstance(node, ast.AsyncWith))
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, item.context_expr)
            for child in node.body:
                self.stmt(child)
            return
        if isinstance(node, ast.For | ast.AsyncFor):
            if isinstance(node, ast.AsyncFor):
                self.function.awaits = True
            self.expr(node.iter)
            self.bind(node.target, node.iter)
            for child in [*node.body, *node.orelse]:
                self.stmt(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            imported: dict[str, str] = {}
            self.project._import(self.module, node, imported)
            for local, dotted in imported.items():
                self.env[local] = self.project.resolve(dotted)
            return
        for part in _children(node):
            if isinstance(part, ast.stmt):
                self.stmt(part)
            elif isinstance(part, ast.expr):
                self.expr(part)
            elif isinstance(part, ast.ExceptHandler):
                if part.type is not None:
                    self.expr(part.type)
                if part.name:
                    self.env[part.name] = None
                for inner in part.body:
                    self.stmt(inner)
            elif isinstance(part, ast.match_case):
                for inner in part.body:
                    self.stmt(inner)

    def bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            found = self.value(value)
            if isinstance(found, Inst) and found.origin is None:
                origin = f"{self.function.qname}.{target.id}"
                found = Inst(found.type, origin)
                Declarations(self).router(origin, value)
            self.env[target.id] = found
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.unbind(element)
        elif isinstance(target, ast.Starred):
            self.unbind(target.value)

    def unbind(self, target: ast.expr) -> None:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.env[node.id] = None

    def declare(self, node: FunctionNode, qname: str | None) -> None:
        """A nested `def`: its decorators and defaults run here; its body when called."""
        args = node.args
        for expr in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.expr(expr)
        for arg in _all_args(args):
            if arg.annotation is not None:
                self.expr(arg.annotation)
        if qname is not None:
            Declarations(self).decorators(node, qname)

    # expressions

    def expr(self, node: ast.expr, awaited: bool = False) -> None:
        if isinstance(node, ast.Await):
            if not isinstance(node.value, ast.Call):
                self.function.awaits = True  # awaiting a task or future; calls: see `call`
            self.expr(node.value, awaited=True)
            return
        if isinstance(node, ast.Call):
            self.call(node, awaited)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Attribute):
            self.property_access(node)
        for child in _children(node):
            if isinstance(child, ast.expr):
                self.expr(child)
            elif isinstance(child, ast.comprehension):
                self.expr(child.iter)
                self.unbind(child.target)
                for condition in child.ifs:
                    self.expr(condition)
            elif isinstance(child, ast.keyword):
                self.expr(child.value)

    def property_access(self, node: ast.Attribute) -> None:
        if node.attr not in self.project.properties:
            return
        base = self.value(node.value)
        if isinstance(base, Inst) and base.type in self.project.classes:
            method = self.project.method(self.project.classes[base.type], node.attr)
            if method is not None:
                decorators = set(self.project.functions[method].decorator_names())
                if decorators & {"property", "cached_property"}:
                    self.edge(node, node, method)

    def call(self, node: ast.Call, awaited: bool) -> None:
        callee = self.value(node.func)
        offloaded = self.offload_spec(node, callee)
        if awaited and not offloaded:
            self.function.awaits = True  # an async API, not a worker thread
        func = node.func
        if isinstance(func, ast.Attribute):
            self.expr(func.value)
        elif not isinstance(func, ast.Name):
            self.expr(func)
        for position, arg in _arguments(node):
            hand_over = offloaded == "all" or (
                isinstance(offloaded, frozenset) and position in offloaded
            )
            self.argument(arg, callee, hand_over)
        Declarations(self).call(node, callee)
        self.record(node, callee, awaited)

    def argument(self, arg: ast.expr, callee: Value | None, hand_over: bool) -> None:
        """A call's argument: a function passed by reference runs where the callee runs it."""
        if isinstance(arg, ast.Starred):
            self.argument(arg.value, callee, hand_over)
            return
        if isinstance(arg, ast.Lambda):
            if not hand_over:
                self.expr(arg.body)
            return
        if hand_over and isinstance(arg, ast.Call) and _is_ref(self.value(arg.func), PARTIAL):
            for _, inner in _arguments(arg):
                self.argument(inner, None, True)
            return
        if isinstance(arg, ast.Name | ast.Attribute):
            value = self.value(arg)
            if isinstance(value, Ref) and value.qname in self.project.functions:
                target = self.project.functions[value.qname]
                calls_it = isinstance(callee, Ref) and (
                    callee.qname in self.project.functions or callee.qname in CALLS_NOW
                )
                if target.is_async or (not hand_over and calls_it):
                    self.edge(arg, arg, target.qname)
                if isinstance(arg, ast.Attribute):
                    self.expr(arg.value)
                return
        self.expr(arg)

    def record(self, node: ast.Call, callee: Value | None, awaited: bool) -> None:
        project = self.project
        if callee is None:
            return
        if isinstance(callee, Ref):
            if callee.qname in project.functions:
                self.edge(node, node.func, callee.qname)
                return
            if callee.qname in project.classes:
                init = project.method(project.classes[callee.qname], "__init__")
                if init is not None:
                    self.edge(node, node.func, init)
                return
        if isinstance(callee, Inst) and callee.type in project.classes:
            method = project.method(project.classes[callee.type], "__call__")
            if method is not None:
                self.edge(node, node.func, method)
            return
        if awaited:
            return
        if isinstance(callee, Inst):
            qname = f"{callee.type}.__call__"
        else:
            qname = blocking.canonical(callee.qname)
        rule = self.project.rule_for(qname)
        if rule is not None:
            self.function.blocking.append((self.step(node, node.func), rule))

    def step(self, node: ast.expr, func: ast.expr) -> Step:
        return Step(
            self.module.rel,
            node.lineno,
            node.col_offset + 1,
            self.function.qualname,
            _text(func),
        )

    def edge(self, node: ast.expr, func: ast.expr, target: str) -> None:
        self.function.edges.append((self.step(node, func), target))


class ModuleScan(Scope):
    """The module's own statements: they run at import, not on the loop, but declare roots:
    `app = FastAPI(lifespan=...)`, decorated handlers, `Annotated[..., Depends(...)]` aliases."""

    def run(self) -> None:
        self.body(self.module.tree.body, self.module.defs)

    def body(self, body: list[ast.stmt], names: dict[str, str]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                qname = names.get(node.name)
                self.signature(node)
                if qname is not None:
                    Declarations(self).decorators(node, qname)
            elif isinstance(node, ast.ClassDef):
                for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                    self.calls(expr)
                qname = names.get(node.name)
                klass = self.project.classes.get(qname or "")
                if klass is not None:
                    self.body(node.body, klass.methods)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.expr):
                        self.calls(child)
                self.body([n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)], names)
                for handler in getattr(node, "handlers", []):
                    self.body(handler.body, names)
            else:
                if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Name):
                            origin = f"{self.module.name}.{target.id}"
                            Declarations(self).router(origin, node.value)
                self.calls(node)

    def signature(self, node: FunctionNode) -> None:
        args = node.args
        for expr in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.calls(expr)
        for arg in _all_args(args):
            if arg.annotation is not None:
                self.calls(arg.annotation)

    def calls(self, node: ast.AST) -> None:
        for child in ast.walk(node):
            if isinstance(child, ast.Call):
                Declarations(self).call(child, self.value(child.func))


class Declarations:
    """What FastAPI will run on the loop, as the code declares it."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.project = scope.project

    def _function(self, node: ast.expr | None) -> str | None:
        if node is None:
            return None
        value = self.scope.value(node)
        if isinstance(value, Ref) and value.qname in self.project.functions:
            return value.qname
        if isinstance(value, Inst) and value.type in self.project.classes:
            return self.project.method(self.project.classes[value.type], "__call__")
        return None

    def _is_app(self, value: Value | None) -> bool:
        return isinstance(value, Inst) and value.type in APP_TYPES

    def _router(self, value: Value | None) -> str | None:
        return value.origin if isinstance(value, Inst) else None

    def add(
        self,
        kind: str,
        function: str | None,
        methods: str = "",
        path: str = "",
        router: str | None = None,
    ) -> None:
        if function is not None:
            self.project.roots.append(RootDecl(kind, function, methods, path, router))

    def router(self, origin: str | None, value: ast.expr) -> None:
        """`router = APIRouter(prefix=...)`: the prefix of the routes declared on it."""
        if origin is None or not isinstance(value, ast.Call):
            return
        callee = self.scope.value(value.func)
        if isinstance(callee, Ref) and callee.qname in APP_TYPES:
            prefix = _string(_keyword(value, "prefix"))
            if prefix:
                self.project.prefixes[origin] = prefix

    def decorators(self, node: FunctionNode, qname: str) -> None:
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
                continue
            method = decorator.func.attr
            receiver = self.scope.value(decorator.func.value)
            first = _string(_keyword(decorator, "path", 0))
            plausible = receiver is None and first is not None and first.startswith("/")
            if not (self._is_app(receiver) or plausible):
                continue
            self.project.has_app = True
            router = self._router(receiver)
            if method in HTTP_METHODS:
                self.add("route", qname, methods=method.upper(), path=first or "", router=router)
            elif method == "api_route":
                self.add(
                    "route",
                    qname,
                    methods=_methods(_keyword(decorator, "methods")),
                    path=first or "",
                    router=router,
                )
            elif method in {"websocket", "websocket_route"}:
                self.add("websocket", qname, methods="WEBSOCKET", path=first or "", router=router)
            elif method == "middleware":
                self.add("middleware", qname)
            elif method == "exception_handler":
                self.add("exception handler", qname)
            elif method == "on_event" and first in {"startup", "shutdown"}:
                self.add(first, qname)

    def call(self, node: ast.Call, callee: Value | None) -> None:
        project = self.project
        if isinstance(callee, Ref):
            qname = callee.qname
            if qname in DEPENDS:
                self.add("dependency", self._function(_keyword(node, "dependency", 0)))
                return
            if qname in MIDDLEWARE:
                self.middleware_class(_keyword(node, "cls", 0))
                return
            if qname not in APP_TYPES:
                return
            project.has_app = True
            self.add("lifespan", self._function(_keyword(node, "lifespan")))
            for event in ("startup", "shutdown"):
                handlers = _keyword(node, f"on_{event}")
                if isinstance(handlers, ast.List | ast.Tuple):
                    for handler in handlers.elts:
                        self.add(event, self._function(handler))
            handlers = _keyword(node, "exception_handlers")
            if isinstance(handlers, ast.Dict):
                for handler in handlers.values:
                    self.add("exception handler", self._function(handler))
            return
        if not (isinstance(callee, Member) and callee.owner in APP_TYPES):
            return
        project.has_app = True
        assert isinstance(node.func, ast.Attribute)
        receiver = self.scope.value(node.func.value)
        method = callee.name
        if method == "add_api_route":
            self.add(
                "route",
                self._function(_keyword(node, "endpoint", 1)),
                methods=_methods(_keyword(node, "methods")),
                path=_string(_keyword(node, "path", 0)) or "",
                router=self._router(receiver),
            )
        elif method in {"add_api_websocket_route", "add_websocket_route"}:
            self.add(
                "websocket",
                self._function(_keyword(node, "endpoint", 1)),
                methods="WEBSOCKET",
                path=_string(_keyword(node, "path", 0)) or "",
                router=self._router(receiver),
            )
        elif method == "add_exception_handler":
            self.add("exception handler", self._function(_keyword(node, "handler", 1)))
        elif method == "add_middleware":
            self.middleware_class(_keyword(node, "middleware_class", 0))
        elif method == "add_event_handler":
            kind = _string(_keyword(node, "event_type", 0))
            if kind in {"startup", "shutdown"}:
                self.add(kind, self._function(_keyword(node, "func", 1)))
        elif method == "include_router":
            router = self._router(self.scope.value(_keyword(node, "router", 0) or node))
            if router is not None:
                prefix = _string(_keyword(node, "prefix")) or ""
                project.includes.setdefault(router, (self._router(receiver), prefix))

    def middleware_class(self, node: ast.expr | None) -> None:
        value = self.scope.value(node) if node is not None else None
        if isinstance(value, Ref) and value.qname in self.project.classes:
            klass = self.project.classes[value.qname]
            if not _is_base_http_middleware(self.project, klass):
                self.add("middleware", self.project.method(klass, "__call__"))


def _methods(node: ast.expr | None) -> str:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        found = [_string(e) for e in node.elts]
        return ",".join(m.upper() for m in found if m) or "GET"
    return "GET"


def _is_base_http_middleware(
    project: Project, klass: Class, seen: frozenset[str] = frozenset()
) -> bool:
    for base in project.bases(klass):
        if base.endswith(".BaseHTTPMiddleware"):
            return True
        if (
            base in project.classes
            and base not in seen
            and _is_base_http_middleware(project, project.classes[base], seen | {klass.qname})
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Putting it together


ROOT_MAY_BE_DEF = {"route": True, "dependency": True, "exception handler": True}


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
    for module in list({id(m): m for m in project.modules.values()}.values()):
        ModuleScan(project, module).run()
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
    for klass in project.classes.values():
        if _is_base_http_middleware(project, klass) and "dispatch" in klass.methods:
            project.has_app = True
            project.roots.append(RootDecl("middleware", klass.methods["dispatch"]))
    roots = _roots(project)
    findings = []
    for root_ in roots:
        for chain, rule in project.reach(root_.qname).values():
            findings.append(Finding(rule, root_, chain, _fix(root_, chain, rule)))
    findings.sort(key=lambda f: (f.call.path, f.call.line, f.call.column, f.root.label))
    return project, roots, findings


def _roots(project: Project) -> list[Root]:
    roots: dict[tuple[str, str], Root] = {}
    for decl in project.roots:
        function = project.functions.get(decl.function)
        if function is None:
            continue
        if not function.is_async and decl.kind not in {"startup", "shutdown"}:
            continue  # FastAPI runs a `def` handler or dependency in its thread pool
        if decl.kind in {"route", "websocket"}:
            label = f"{decl.methods} {_prefix(project, decl.router)}{decl.path}"
        elif decl.kind in {"dependency", "middleware"}:
            label = f"{decl.kind} {function.qualname}"
        else:
            short = function.module.name.rpartition(".")[2]
            label = f"{decl.kind} {short}.{function.qualname}"
        key = (decl.function, label)
        if key not in roots:
            roots[key] = Root(
                decl.kind,
                label,
                function.module.rel,
                function.node.lineno,
                function.qualname,
                function.qname,
                ROOT_MAY_BE_DEF.get(decl.kind, False),
                function.awaits,
            )
    return list(roots.values())


def _prefix(project: Project, router: str | None, depth: int = 0) -> str:
    if router is None or depth > 10:
        return ""
    parent, included = project.includes.get(router, (None, ""))
    return _prefix(project, parent, depth + 1) + included + project.prefixes.get(router, "")


def _fix(root: Root, chain: tuple[Step, ...], rule: Rule) -> str:
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
