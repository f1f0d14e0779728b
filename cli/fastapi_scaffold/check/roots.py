"""Roots: the code FastAPI runs on the event loop, as the project declares it.

`Declarations` reads one decorator or call: `@router.get(...)`, `add_api_route`,
`Depends(...)`, `FastAPI(lifespan=...)`, `add_middleware`, `@app.exception_handler`,
`include_router(prefix=...)`. `ModuleScan` feeds it a module's own statements; the scan of each
function body (calls.py) feeds it the calls made there. `roots` then turns what was declared
into `Root`s, keeping only what runs on the loop.

A new way to declare a root goes into `Declarations` (and its names into framework.py).
"""

import ast
from dataclasses import dataclass

from fastapi_scaffold.check.framework import APP_TYPES, DEPENDS, HTTP_METHODS, MIDDLEWARE
from fastapi_scaffold.check.model import (
    Class,
    Function,
    FunctionNode,
    Inst,
    Member,
    Ref,
    RootDecl,
    Value,
    failure,
)
from fastapi_scaffold.check.scopes import FunctionScope, Project, Scope
from fastapi_scaffold.check.syntax import all_args, keyword, string

# Kinds of root FastAPI would run in its thread pool if they were `def`, so that making them
# `def` is a fix.
ROOT_MAY_BE_DEF = {"route": True, "dependency": True, "exception handler": True}


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
        for arg in all_args(args):
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
        return isinstance(value, Inst) and is_app_type(self.project, value.type)

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
        if isinstance(callee, Ref) and is_app_type(self.project, callee.qname):
            prefix = string(keyword(value, "prefix"))
            if prefix:
                self.project.prefixes[origin] = prefix

    def decorators(self, node: FunctionNode, qname: str) -> None:
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and self.registering(decorator, qname):
                continue
            if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
                continue
            method = decorator.func.attr
            receiver = self.scope.value(decorator.func.value)
            first = string(keyword(decorator, "path", 0))
            plausible = receiver is None and first is not None and first.startswith("/")
            if not (self._is_app(receiver) or plausible):
                continue
            self.project.has_app = True
            router = self._router(receiver)
            if method in HTTP_METHODS or method == "api_route":
                self.project.route_decorators.add(id(decorator))
            if method in HTTP_METHODS:
                self.add("route", qname, methods=method.upper(), path=first or "", router=router)
            elif method == "api_route":
                self.add(
                    "route",
                    qname,
                    methods=_methods(keyword(decorator, "methods")),
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

    def registering(self, decorator: ast.Call, qname: str) -> bool:
        """A project decorator handed a router's method, `@route(router.get, "/path")`: it
        registers the handler with it."""
        if not isinstance(decorator.func, ast.Name | ast.Attribute):
            return False
        callee = self.scope.value(decorator.func)
        if not (isinstance(callee, Ref) and callee.qname in self.project.functions):
            return False
        for position, arg in enumerate(decorator.args):
            if not isinstance(arg, ast.Attribute):
                continue
            method = arg.attr
            if method not in HTTP_METHODS and method not in {"api_route", "websocket"}:
                continue
            receiver = self.scope.value(arg.value)
            if not self._is_app(receiver):
                continue
            path = next((string(a) for a in decorator.args[position + 1 :] if string(a)), "")
            path = string(keyword(decorator, "path")) or path or ""
            self.project.has_app = True
            self.project.route_decorators.add(id(decorator))
            kind = "websocket" if method == "websocket" else "route"
            methods = "WEBSOCKET" if method == "websocket" else method.upper()
            if method == "api_route":
                methods = _methods(keyword(decorator, "methods"))
            self.add(kind, qname, methods=methods, path=path, router=self._router(receiver))
            return True
        return False

    def call(self, node: ast.Call, callee: Value | None) -> None:
        project = self.project
        if isinstance(callee, Ref):
            qname = callee.qname
            if qname in DEPENDS:
                self.add("dependency", self._function(keyword(node, "dependency", 0)))
                return
            if qname in MIDDLEWARE:
                self.middleware_class(keyword(node, "cls", 0))
                return
            if qname not in APP_TYPES:
                return
            project.has_app = True
            self.add("lifespan", self._function(keyword(node, "lifespan")))
            for event in ("startup", "shutdown"):
                handlers = keyword(node, f"on_{event}")
                if isinstance(handlers, ast.List | ast.Tuple):
                    for handler in handlers.elts:
                        self.add(event, self._function(handler))
            handlers = keyword(node, "exception_handlers")
            if isinstance(handlers, ast.Dict):
                for handler in handlers.values:
                    self.add("exception handler", self._function(handler))
            return
        if not (isinstance(callee, Member) and is_app_type(project, callee.owner)):
            return
        project.has_app = True
        assert isinstance(node.func, ast.Attribute)
        receiver = self.scope.value(node.func.value)
        method = callee.name
        if method == "add_api_route":
            self.add(
                "route",
                self._function(keyword(node, "endpoint", 1)),
                methods=_methods(keyword(node, "methods")),
                path=string(keyword(node, "path", 0)) or "",
                router=self._router(receiver),
            )
        elif method in {"add_api_websocket_route", "add_websocket_route"}:
            self.add(
                "websocket",
                self._function(keyword(node, "endpoint", 1)),
                methods="WEBSOCKET",
                path=string(keyword(node, "path", 0)) or "",
                router=self._router(receiver),
            )
        elif method == "add_exception_handler":
            self.add("exception handler", self._function(keyword(node, "handler", 1)))
        elif method == "add_middleware":
            self.middleware_class(keyword(node, "middleware_class", 0))
        elif method == "add_event_handler":
            kind = string(keyword(node, "event_type", 0))
            if kind in {"startup", "shutdown"}:
                self.add(kind, self._function(keyword(node, "func", 1)))
        elif method == "include_router":
            router = self._router(self.scope.value(keyword(node, "router", 0) or node))
            if router is not None:
                prefix = string(keyword(node, "prefix")) or ""
                project.includes.setdefault(router, (self._router(receiver), prefix))

    def middleware_class(self, node: ast.expr | None) -> None:
        value = self.scope.value(node) if node is not None else None
        if isinstance(value, Ref) and value.qname in self.project.classes:
            klass = self.project.classes[value.qname]
            if not is_base_http_middleware(self.project, klass):
                self.add("middleware", self.project.method(klass, "__call__"))


def is_app_type(project: Project, name: str) -> bool:
    """FastAPI, a router, or a project class that subclasses one (`class MyRouter(APIRouter)`,
    or the class a factory of router classes returns)."""
    if name in APP_TYPES:
        return True
    klass = project.classes.get(name)
    if klass is None:
        return False
    if name not in project.app_classes:
        project.app_classes[name] = False
        project.app_classes[name] = project.external_base(klass) in APP_TYPES
    return project.app_classes[name]


def _methods(node: ast.expr | None) -> str:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        found = [string(e) for e in node.elts]
        return ",".join(m.upper() for m in found if m) or "GET"
    return "GET"


def is_base_http_middleware(
    project: Project, klass: Class, seen: frozenset[str] = frozenset()
) -> bool:
    """Whether a project class subclasses Starlette's `BaseHTTPMiddleware`, maybe indirectly."""
    for base in project.bases(klass):
        if base.endswith(".BaseHTTPMiddleware"):
            return True
        if (
            base in project.classes
            and base not in seen
            and is_base_http_middleware(project, project.classes[base], seen | {klass.qname})
        ):
            return True
    return False


def declare_module_roots(project: Project) -> None:
    """What each module's own statements declare (function bodies: see calls.Scan)."""
    for module in list({id(m): m for m in project.modules.values()}.values()):
        if not module.eager:
            continue  # its text names nothing that declares a root (parsing.DECLARES)
        try:
            ModuleScan(project, module).run()
        except Exception as exc:  # a fault of the checker's, met on this file: go on
            project.errors.append(f"{module.rel}: {failure(exc)}; its module level not checked")


def declare_middleware_roots(project: Project) -> None:
    """The `dispatch` of every project subclass of BaseHTTPMiddleware, added or not."""
    for klass in project.classes.values():
        try:
            is_middleware = is_base_http_middleware(project, klass)
        except Exception as exc:  # a fault of the checker's, met on this class: go on
            where = f"{klass.module.rel}:{klass.node.lineno}: {klass.qualname}"
            project.errors.append(f"{where}: {failure(exc)}; not checked as middleware")
            continue
        if is_middleware and "dispatch" in klass.methods:
            project.has_app = True
            project.roots.append(RootDecl("middleware", klass.methods["dispatch"]))


def roots(project: Project) -> list[Root]:
    """Every function declared to FastAPI that it runs on the loop, labelled as a user reads
    it (`GET /v1/items/{item_id}`, `dependency current_user`), once per function and label."""
    found: dict[tuple[str, str], Root] = {}
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
        if key not in found:
            found[key] = Root(
                decl.kind,
                label,
                function.module.rel,
                function.node.lineno,
                function.qualname,
                function.qname,
                ROOT_MAY_BE_DEF.get(decl.kind, False),
                function.awaits,
            )
            for qname in wrappers(project, function):
                wrapper = project.functions[qname]
                found.setdefault(
                    (qname, label),
                    Root(
                        decl.kind,
                        label,
                        wrapper.module.rel,
                        wrapper.node.lineno,
                        wrapper.qualname,
                        qname,
                        False,  # the wrapper is the project's decorator, not the handler
                        wrapper.awaits,
                    ),
                )
    return list(found.values())


def wrappers(project: Project, function: Function) -> list[str]:
    """The `async def` wrappers the project's own decorators put around a handler, which
    FastAPI runs in its place: those under the decorator that registers the route (all, for
    a handler registered by a call)."""
    decorators = function.node.decorator_list
    registering = [i for i, d in enumerate(decorators) if id(d) in project.route_decorators]
    if registering:
        decorators = decorators[registering[-1] + 1 :]
    if not decorators:
        return []
    scope: Scope = (
        FunctionScope(project, function.parent)
        if function.parent is not None
        else Scope(project, function.module)
    )
    found: list[str] = []
    for decorator in decorators:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        value = scope.value(target)
        if not (isinstance(value, Ref) and value.qname in project.functions):
            continue
        found += nested_coroutines(project, project.functions[value.qname])
    return found


def nested_coroutines(project: Project, function: Function, depth: int = 0) -> list[str]:
    """The `async def`s defined inside a function, at any depth: a decorator's wrappers."""
    found: list[str] = []
    project.index_function(function)
    for qname in function.local_defs.values():
        inner = project.functions.get(qname)
        if inner is None or depth > 5:
            continue
        if inner.is_async:
            found.append(qname)
        found += nested_coroutines(project, inner, depth + 1)
    return found


def _prefix(project: Project, router: str | None, depth: int = 0) -> str:
    if router is None or depth > 10:
        return ""
    parent, included = project.includes.get(router, (None, ""))
    return _prefix(project, parent, depth + 1) + included + project.prefixes.get(router, "")
