"""Following calls: one scan of each function body records what it calls in the project (edges),
which blocking APIs it calls itself, and where execution leaves the loop (a function handed to
a worker thread); `reach` then walks the edges from a root.

A new call form to follow (a decorator, a callback) goes into `Scan`; what counts as a thread
hand-off is `offload_spec`; what blocks is blocking.py's table.
"""

import ast

from fastapi_scaffold.check import blocking
from fastapi_scaffold.check.blocking import Rule
from fastapi_scaffold.check.hierarchy import implementations
from fastapi_scaffold.check.model import (
    Function,
    FunctionNode,
    Inst,
    Member,
    Ref,
    Step,
    Value,
    failure,
)
from fastapi_scaffold.check.modules import imported as imported_names
from fastapi_scaffold.check.roots import Declarations
from fastapi_scaffold.check.scopes import PARTIAL, CallKey, FunctionScope, Project, Scope
from fastapi_scaffold.check.syntax import (
    all_args,
    arguments,
    children,
    handed_names,
    is_method_call,
    is_ref,
    text,
)

# Builtins that call the function they are given, there and then, on the caller's thread.
CALLS_NOW = frozenset({"builtins.map", "builtins.filter", "builtins.sorted", "builtins.min"})

Reached = dict[CallKey, tuple[tuple[Step, ...], Rule]]


def offload_spec(
    scope: Scope, call: ast.Call, callee: Value | bool | None = False
) -> frozenset[int | str] | str | None:
    """Which arguments of a call go to a worker thread: "all" for the offloading APIs,
    some positions for a project's wrapper of them, None for an ordinary call."""
    if callee is False:
        callee = scope.value(call.func)
    if isinstance(callee, Ref):
        if callee.qname in blocking.OFFLOADERS:
            return "all"
        function = scope.project.functions.get(callee.qname)
        if function is not None:
            params = offloaded_params(scope.project, function)
            if not params:
                return None
            positional = [a.arg for a in function.node.args.posonlyargs + function.node.args.args]
            if callee.bound or (function.cls is not None and is_method_call(call)):
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


def offloaded_params(project: Project, function: Function) -> frozenset[str]:
    """The parameters a project function hands to a worker thread: a wrapper such as
    `run_sync(func, *args)` over `anyio.to_thread.run_sync`."""
    if function.qname in project.offloaded:
        return project.offloaded[function.qname]
    project.offloaded[function.qname] = frozenset()
    project.index_function(function)
    params = {a.arg for a in all_args(function.node.args)}
    found: set[str] = set()
    scope = FunctionScope(project, function) if function.handoffs else None
    for node in function.handoffs:
        assert scope is not None
        offloaded = offload_spec(scope, node)
        if not offloaded:
            continue
        for position, arg in arguments(node):
            if offloaded != "all" and position not in offloaded:
                continue
            names = handed_names(arg)
            for name in list(names):
                names |= function.partials.get(name, set())
            found |= names & params
    result = frozenset(found)
    project.offloaded[function.qname] = result
    return result


def rule_for(project: Project, qname: str) -> Rule | None:
    """The blocking table's rule for an outside call, if it blocks."""
    if qname not in project.rule_cache:
        project.rule_cache[qname] = blocking.rule_for(qname, project.rules)
    return project.rule_cache[qname]


def scan(project: Project, function: Function) -> None:
    """Scan a function's body, once: the first time a root reaches it (or, for a function that
    may declare roots, before roots are gathered). Most of a large project is never reached."""
    if function.scanned:
        return
    function.scanned = True
    try:
        project.index_function(function)
        Scan(project, function).run()
    except Exception as exc:  # nested thousands deep, or a fault of the checker's: go on
        function.edges.clear()
        function.blocking.clear()
        where = f"{function.module.rel}:{function.node.lineno}: {function.qualname}"
        project.errors.append(f"{where}: {failure(exc)}; not checked")


def reach(project: Project, qname: str, active: set[str] | None = None) -> Reached:
    """Every blocking call a function reaches on the loop, each with its shortest chain
    found; memoised, so a function shared by many routes is walked once."""
    if qname in project.reached:
        return project.reached[qname]
    active = active if active is not None else set()
    if qname in active:
        return {}
    active.add(qname)
    function = project.functions[qname]
    scan(project, function)
    found: Reached = {}
    for step, rule in function.blocking:
        found.setdefault((step.path, step.line, step.column, step.call), ((step,), rule))
    for step, target in function.edges:
        for key, (chain, rule) in reach(project, target, active).items():
            new = (step, *chain)
            if key not in found or len(found[key][0]) > len(new):
                found[key] = (new, rule)
    for implementation in implementations(project, qname):
        for key, (chain, rule) in reach(project, implementation, active).items():
            if key not in found or len(found[key][0]) > len(chain):
                found[key] = (chain, rule)
    active.discard(qname)
    project.reached[qname] = found
    return found


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
                if isinstance(node, ast.With):
                    self.enter(item.context_expr)
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
            imported_names(self.module, node, imported)
            for local, dotted in imported.items():
                self.env[local] = self.project.resolve(dotted)
            return
        for part in children(node):
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

    def enter(self, manager: ast.expr) -> None:
        """`with lock:` calls the manager's `__enter__`: a file lock waits there."""
        value = self.value(manager)
        if not isinstance(value, Inst):
            return
        klass = self.project.classes.get(value.type)
        if klass is not None:
            method = self.project.method(klass, "__enter__")
            if method is not None:
                self.edge(manager, manager, method)
            return
        entered = blocking.canonical(f"{value.type}.__enter__")
        rule = rule_for(self.project, entered)
        if rule is not None and entered in rule.calls:  # named: most managers wait at exit
            self.function.blocking.append((self.step(manager, manager), rule))

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
        for arg in all_args(args):
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
        for child in children(node):
            if isinstance(child, ast.expr):
                self.expr(child)
            elif isinstance(child, ast.comprehension):
                if child.is_async:
                    self.function.awaits = True  # `[x async for x in ...]`
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
            if method is not None and self.project.functions[method].is_property:
                self.edge(node, node, method)

    def call(self, node: ast.Call, awaited: bool) -> None:
        callee = self.value(node.func)
        offloaded = offload_spec(self, node, callee)
        if awaited and not offloaded:
            self.function.awaits = True  # an async API, not a worker thread
        func = node.func
        if isinstance(func, ast.Attribute):
            self.expr(func.value)
        elif not isinstance(func, ast.Name):
            self.expr(func)
        for position, arg in arguments(node):
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
        if hand_over and isinstance(arg, ast.Call) and is_ref(self.value(arg.func), PARTIAL):
            for _, inner in arguments(arg):
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
        """The call as an edge to a project function, or as a blocking call."""
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
        rule = rule_for(project, qname)
        quiet = blocking.QUIET_WITH_KEYWORD.get(qname)
        if quiet is not None and any(k.arg == quiet for k in node.keywords):
            return  # a client given its credentials: nothing to look up
        if rule is not None:
            self.function.blocking.append((self.step(node, node.func), rule))

    def step(self, node: ast.expr, func: ast.expr) -> Step:
        return Step(
            self.module.rel,
            node.lineno,
            node.col_offset + 1,
            self.function.qualname,
            text(func),
        )

    def edge(self, node: ast.expr, func: ast.expr, target: str) -> None:
        self.function.edges.append((self.step(node, func), target))
