"""Modules and imports: the index of every module of the project, with what it imports, and
every function and class it defines (nested ones too), each under its qualified name."""

import ast
from pathlib import Path
from typing import Any

from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.files import DEFAULT_MAX_FILE_BYTES, python_files, relative
from fastapi_scaffold.check.framework import APP_TYPES, DEPENDS, MIDDLEWARE
from fastapi_scaffold.check.model import Class, Function, Module, failure
from fastapi_scaffold.check.parsing import parse
from fastapi_scaffold.check.syntax import all_args, children, defs, handed_names, top_level

# The names of the calls that can declare a root inside a function body (roots.py): such a
# function is scanned whether a root reaches it or not.
DECLARING = frozenset(
    {q.rpartition(".")[2] for q in APP_TYPES | DEPENDS | MIDDLEWARE}
    | {
        "include_router",
        "add_api_route",
        "add_api_websocket_route",
        "add_websocket_route",
        "add_exception_handler",
        "add_middleware",
        "add_event_handler",
    }
)

# `type X = ...` statements as Python 3.12+ parses them (newer_syntax.py turns them into
# assignments for older ones).
_TYPE_ALIAS: type = getattr(ast, "TypeAlias", type(None))


class Index:
    """The project's modules, functions and classes by qualified name, and the files read."""

    def __init__(
        self, root: Path, rules: tuple[Rule, ...], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ) -> None:
        self.root = root
        self.rules = rules
        self.max_file_bytes = max_file_bytes
        self.modules: dict[str, Module] = {}
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, Class] = {}
        # One line per file or function not checked, and why (files.py, parsing.py, failure).
        self.errors: list[str] = []
        self.files = 0
        self.lines = 0
        self.properties: set[str] = set()  # names of the project's properties
        # `app.state.x = value`: each value, with where it was assigned.
        self.state: dict[str, list[tuple[ast.expr, Module, Function | None]]] = {}

    def load(self) -> None:
        """Parse every file under the root and index its module."""
        modules: list[Module] = []
        project = self.root if self.root.is_dir() else None
        for path in python_files(self.root, self.errors):
            parsed = parse(path, project, self.max_file_bytes)
            self.files += 1
            self.lines += parsed.lines
            rel = relative(path, self.root)
            if parsed.tree is None:
                line, reason = parsed.error or (None, "not parsed")
                where = rel if line is None else f"{rel}:{line}"
                self.errors.append(f"{where}: {reason}; file not checked")
                continue
            name, is_package = module_name(path, self.root)
            module = Module(name, path, rel, is_package, parsed.tree, parsed.noqa)
            module.eager = parsed.declares
            self.modules.setdefault(name, module)
            # Also by its path under the checked directory, for projects run from there
            # whose packages lack __init__.py.
            if self.root.is_dir():
                dotted = ".".join(Path(rel).with_suffix("").parts)
                dotted = dotted.removesuffix(".__init__")
                self.modules.setdefault(dotted, module)
                if dotted.count(".") > name.count("."):
                    # Folders without __init__.py above it: Python names it from whichever
                    # of them is on sys.path (`src/`, a service's folder), so by each.
                    module.dotted = dotted
                    parts = dotted.split(".")
                    for start in range(1, len(parts) - name.count(".") - 1):
                        self.modules.setdefault(".".join(parts[start:]), module)
            modules.append(module)
        for module in modules:
            try:
                self._index(module)
            except Exception as exc:  # a fault of the checker's, met on this file
                self.errors.append(f"{module.rel}: {failure(exc)}; file not checked")

    def _index(self, module: Module) -> None:
        for node in top_level(module.tree.body):
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported(module, node, module.imports)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        module.assigns[target.id] = node.value
                    self._state(target, node.value, module, None)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    module.assigns[node.target.id] = node.value
                else:
                    module.annotated[node.target.id] = node.annotation
            elif isinstance(node, _TYPE_ALIAS):  # `type X = ...`, parsed natively on 3.12+
                alias: Any = node
                module.assigns[alias.name.id] = alias.value
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
        for node in defs(body):
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
                    if self.functions[method].is_property:
                        self.properties.add(method.rpartition(".")[2])
            else:
                function = Function(qname, qualname, node, module, cls, parent)
                self.functions[qname] = function
                if module.eager:
                    self.index_function(function)

    def index_function(self, function: Function) -> None:
        """Walk a function's body, once: at once in a module that may declare roots from
        inside functions, else when first asked (most of a large project never is)."""
        if function.indexed:
            return
        function.indexed = True
        nested = self._index_function(function)
        self._index_body(
            function.module, nested, f"{function.qname}.<locals>", f"{function.qualname}.",
            function, None, function.local_defs,
        )  # fmt: skip

    def index_class(self, klass: Class) -> None:
        """Its methods' bodies, for `self.x = ...`."""
        for method in klass.methods.values():
            self.index_function(self.functions[method])

    def index_all(self) -> None:
        """Every function body, nested ones too (what `--fix` searches for references)."""
        done = 0
        while done < len(self.functions):
            pending = [f for f in self.functions.values() if not f.indexed]
            done = len(self.functions)
            for function in pending:
                self.index_function(function)

    def _index_function(self, function: Function) -> list[ast.stmt]:
        """One walk over a function's body for what other functions' scans ask of it: the
        functions and classes nested in it, `self.x = ...` (the types of its class's
        attributes), and the calls that hand a parameter over (is it a wrapper of
        `anyio.to_thread.run_sync`?). Returns the nested definitions."""
        args = function.node.args
        params = {a.arg for a in all_args(args)}
        positional = args.posonlyargs + args.args
        me = positional[0].arg if function.cls is not None and positional else None
        nested: list[ast.stmt] = []
        stack: list[ast.AST] = list(reversed(function.node.body))
        while stack:
            node = stack.pop()
            kind = type(node)
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.ClassDef:
                nested.append(node)  # type: ignore[arg-type]
                if node.decorator_list:  # type: ignore[attr-defined]
                    function.declares = True
                continue
            if kind is ast.Call:
                assert isinstance(node, ast.Call)
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in DECLARING:
                    function.declares = True
                if params and handed_names(node) & (params | function.partials.keys()):
                    function.handoffs.append(node)
            elif kind is ast.Assign or kind is ast.AnnAssign:
                assert isinstance(node, ast.Assign | ast.AnnAssign)
                self._assignment(function, node, me)
            stack.extend(children(node))
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
                function.partials[targets[0].id] = handed_names(value)
        else:
            targets, value, annotation = [node.target], node.annotation, True
        if not annotation:
            for target in targets:
                self._state(target, value, function.module, function)
        if me is None or function.cls is None:
            return
        owners = {me, function.cls.node.name}  # `self.x = ...`, and `Config.x = ...` too
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id in owners
            ):
                function.cls.self_assigns.setdefault(target.attr, []).append(
                    (value, annotation, function.qname)
                )

    def _state(
        self, target: ast.expr, value: ast.expr, module: Module, function: Function | None
    ) -> None:
        """`app.state.x = ...` (in lifespan, most often): what `request.app.state.x` holds."""
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Attribute)
            and target.value.attr == "state"
        ):
            self.state.setdefault(target.attr, []).append((value, module, function))


def module_name(path: Path, root: Path) -> tuple[str, bool]:
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


def imported(module: Module, node: ast.Import | ast.ImportFrom, into: dict[str, str]) -> None:
    """The names an import statement binds in `module`, each with the dotted name it
    stands for (relative imports resolved against the module's package)."""
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
        # Relative to the package as Python sees it, through namespace folders too.
        name = module.dotted or module.name
        package = name if module.is_package else name.rpartition(".")[0]
        parts = package.split(".") if package else []
        if node.level > 1:
            parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    for alias in node.names:
        if alias.name != "*":
            into[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
