"""Small questions asked of syntax trees, shared by every pass."""

import ast
from collections.abc import Iterator

from fastapi_scaffold.check.model import Ref, Value


def top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, those under `if`/`try` (TYPE_CHECKING, fallbacks) included."""
    for node in body:
        if isinstance(node, ast.If):
            yield from top_level(node.body)
            yield from top_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from top_level(node.body)
            for handler in node.handlers:
                yield from top_level(handler.body)
            yield from top_level(node.orelse)
        else:
            yield node


def defs(body: list[ast.stmt]) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """The functions and classes a body defines, also under `if`, `try`, `with` and loops."""
    for node in top_level(body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node
        elif isinstance(node, ast.With | ast.AsyncWith | ast.For | ast.AsyncFor | ast.While):
            yield from defs(node.body)


# Per node type, the fields that may hold nodes worth visiting: not `ctx`, operators, names or
# constants. `ast.iter_child_nodes` yields all of those too, and walking them is most of a
# pass's time on a large project.
_SKIP = (ast.expr_context, ast.operator, ast.boolop, ast.cmpop, ast.unaryop, ast.Name, ast.Constant)
_FIELDS: dict[type, tuple[str, ...]] = {}


def children(node: ast.AST) -> list[ast.AST]:
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


def all_args(args: ast.arguments) -> list[ast.arg]:
    """Every parameter, positional-only to `**kwargs`."""
    found = args.posonlyargs + args.args
    if args.vararg:
        found.append(args.vararg)
    found += args.kwonlyargs
    if args.kwarg:
        found.append(args.kwarg)
    return found


def arguments(call: ast.Call) -> Iterator[tuple[int | str, ast.expr]]:
    """A call's arguments with their position or keyword (`**` for `**kwargs`)."""
    yield from enumerate(call.args)
    for keyword in call.keywords:
        yield keyword.arg or "**", keyword.value


def handed_names(node: ast.expr) -> set[str]:
    """The bare names a callable argument hands over: `f`, `*args`, `partial(f, *args)`."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Starred):
        return handed_names(node.value)
    if isinstance(node, ast.Call):
        found: set[str] = set()
        for _, arg in arguments(node):
            found |= handed_names(arg)
        return found
    return set()


def keyword(call: ast.Call, name: str, position: int | None = None) -> ast.expr | None:
    """The argument `name`, given by keyword or at `position`."""
    for item in call.keywords:
        if item.arg == name:
            return item.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


def string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def looks_like_type(expr: ast.expr) -> bool:
    """Whether a module-level assignment is a type alias rather than a value."""
    if isinstance(expr, ast.Subscript | ast.Name | ast.Attribute):
        return True
    return isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr)


def is_ref(value: Value | None, qname: str) -> bool:
    return isinstance(value, Ref) and value.qname == qname


def is_method_call(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute)


def text(node: ast.expr) -> str:
    """An expression as written, cut to 60 characters: a step of a chain."""
    written = ast.unparse(node)
    return written if len(written) <= 60 else written[:57] + "..."


def own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of the functions and classes nested in it."""
    stack: list[ast.AST] = list(reversed(function.body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(reversed(children(node)))
