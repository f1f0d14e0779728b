"""Scopes and types: what a name, an attribute, a call's result or an annotation stands for, as
far as can be told without running anything.

`Project` adds these questions to the index of modules.py: a dotted name, `base.attr` on a
module, class or instance, a class's methods and bases, a function's return type. `Scope` looks
names up at module level, `FunctionScope` inside a function (its parameters, typed by their
annotations or `Depends(...)`, and its locals as far as the scan has assigned them).
"""

import ast
from pathlib import Path

from fastapi_scaffold.check import blocking
from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.files import DEFAULT_MAX_FILE_BYTES
from fastapi_scaffold.check.framework import DEPENDS
from fastapi_scaffold.check.model import (
    Class,
    Function,
    Inst,
    Member,
    Module,
    Ref,
    RootDecl,
    Step,
    Value,
)
from fastapi_scaffold.check.modules import Index
from fastapi_scaffold.check.modules import imported as imported_names
from fastapi_scaffold.check.syntax import is_ref, keyword, looks_like_type, own_nodes

PARTIAL = "functools.partial"
# `type[X]`: what a factory of classes returns.
TYPE_OF = frozenset({"builtins.type", "typing.Type"})
CLOSING = "contextlib.closing"
GETATTR = "builtins.getattr"
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

# One reachable blocking call, by where it is: (path, line, column, call as written).
CallKey = tuple[str, int, int, str]


class Project(Index):
    """Everything known about the code under a path, and the questions asked of it."""

    def __init__(
        self, root: Path, rules: tuple[Rule, ...], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ) -> None:
        super().__init__(root, rules, max_file_bytes)
        # What the code declares to FastAPI (roots.py).
        self.has_app = False
        self.roots: list[RootDecl] = []
        self.prefixes: dict[str, str] = {}
        self.includes: dict[str, tuple[str | None, str]] = {}
        # The decorators that declare a route, by id: any other decorator of a handler may
        # need it to stay a coroutine function (fix.py).
        self.route_decorators: set[int] = set()
        self.app_classes: dict[str, bool] = {}  # project classes that are routers (roots.py)
        # Memos of the questions below.
        self._qnames: dict[str, Value | None] = {}
        self._globals: dict[tuple[str, str], Value | None] = {}
        self._attrs: dict[tuple[str, str], Value | None] = {}
        self._returns: dict[str, Value | None] = {}
        self._state_values: dict[str, Value | None] = {}
        # Memos of calls.py.
        self.offloaded: dict[str, frozenset[str]] = {}
        self.rule_cache: dict[str, Rule | None] = {}
        self.reached: dict[str, dict[CallKey, tuple[tuple[Step, ...], Rule]]] = {}
        # Memos of hierarchy.py.
        self.subclasses: dict[str, list[str]] | None = None
        self.by_method: dict[str, list[Class]] | None = None
        self.implemented: dict[str, tuple[str, ...]] = {}

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
            if base.name == "state" and name in self.state:
                return self.state_value(name)
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
                if function.is_property:
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

    def state_value(self, name: str) -> Value | None:
        """What `app.state.<name>` holds: the first assignment to it that can be told."""
        if name in self._state_values:
            return self._state_values[name]
        self._state_values[name] = None
        found: Value | None = None
        for expr, module, function in self.state[name]:
            scope = InferScope(self, function) if function else Scope(self, module)
            found = scope.value(expr)
            if found is not None:
                if isinstance(found, Inst):
                    found = Inst(found.type)
                break
        self._state_values[name] = found
        return found

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
        """The first base from outside the project, through the project's own bases."""
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
        """A class attribute: annotated or assigned in the class body, or `self.x = ...`."""
        key = (klass.qname, name)
        if key in self._attrs:
            return self._attrs[key]
        self._attrs[key] = None
        value: Value | None = None
        scope = self.class_scope(klass)
        self.index_class(klass)
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
                if looks_like_type(expr):
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
        """The type of the instance a function returns (what it yields, for generators and
        context managers)."""
        value = self.return_value(function)
        if isinstance(value, Inst):
            return value.type
        return None

    def return_value(self, function: Function) -> Value | None:
        """What a function returns: by its annotation (`-> Service`, `-> type[Router]` for a
        class), or where it has none, by what its `return` and `yield` statements give."""
        if function.qname in self._returns:
            return self._returns[function.qname]
        self._returns[function.qname] = None
        outer = FunctionScope(self, function.parent) if function.parent else None
        scope = outer or Scope(self, function.module)
        node = function.node.returns
        found: Value | None = None
        if node is not None:
            klass = self.class_annotation(node, scope)
            if klass is not None:
                found = Ref(klass)
            else:
                name = self.annotation(node, scope)
                found = Inst(name) if name else None
        else:
            found = self._returned(function)
        self._returns[function.qname] = found
        return found

    def class_annotation(self, node: ast.expr, scope: "Scope") -> str | None:
        """The class `type[X]` (or `Type[X]`) names: a function annotated so returns a class."""
        if not isinstance(node, ast.Subscript):
            return None
        base = scope.value(node.value)
        if isinstance(base, Ref) and base.qname in TYPE_OF:
            return self.annotation(node.slice, scope)
        return None

    def _returned(self, function: Function) -> Value | None:
        """The first value a `return` or `yield` of an unannotated function can be told."""
        scope = InferScope(self, function)
        for node in own_nodes(function.node):
            if isinstance(node, ast.Return | ast.Yield) and node.value is not None:
                found = scope.value(node.value)
                if found is not None and not is_ref(found, "builtins.None"):
                    if isinstance(found, Inst):
                        return Inst(found.type)
                    return found
        return None


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
        """What a call returns: an instance of the class called, or of a function's declared
        return type, or of what the blocking table says an outside call returns."""
        project = self.project
        callee = self.value(node.func)
        if callee is None:
            return None
        if isinstance(callee, Ref):
            qname = callee.qname
            if qname in project.classes:
                return Inst(qname)
            if qname in project.functions:
                return project.return_value(project.functions[qname])
            if qname == PARTIAL and node.args:
                return self.value(node.args[0])
            if qname == CLOSING and node.args:
                return self.value(node.args[0])
            if qname == GETATTR and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str):
                    return project.attribute(self.value(node.args[0]), name.value)
                return None
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
        """The parameters' types: `self`/`cls`, annotations, `= Depends(dependency)`."""
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
            target = keyword(default, "dependency", 0)
            value = outer.value(target) if target is not None else None
            if isinstance(value, Ref) and value.qname in self.project.functions:
                return self.project.returns(self.project.functions[value.qname])
            if isinstance(value, Ref) and value.qname in self.project.classes:
                return value.qname
        return None

    def lookup_local(self, name: str) -> tuple[bool, Value | None]:
        """Whether `name` is local to this function or an enclosing one, and its value."""
        function: Function | None = self.function
        env: dict[str, Value | None] | None = self.env
        while function is not None:
            if env is not None and name in env:
                return True, env[name]
            self.project.index_function(function)
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


class InferScope(FunctionScope):
    """Names in a function not scanned yet: a local is what its last plain assignment in the
    body gives (enough for `client = Client(...); return client`)."""

    def __init__(self, project: Project, function: Function, depth: int = 0) -> None:
        super().__init__(project, function)
        self.depth = depth

    def lookup(self, name: str) -> Value | None:
        found, value = self.lookup_local(name)
        if found:
            return value
        if self.depth < 5:
            assigned: ast.expr | None = None
            imported: str | None = None
            for node in own_nodes(self.function.node):
                if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in node.targets
                ):
                    assigned, imported = node.value, None
                elif isinstance(node, ast.Import | ast.ImportFrom):
                    names: dict[str, str] = {}
                    imported_names(self.module, node, names)
                    if name in names:
                        assigned, imported = None, names[name]
            if imported is not None:
                return self.project.resolve(imported)
            if assigned is not None:
                inner = InferScope(self.project, self.function, self.depth + 1)
                return inner.value(assigned)
        return super().lookup(name)
