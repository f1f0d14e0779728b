"""Classes and their subclasses: a call through an interface (an abstract method, a Protocol)
runs one of the project's implementations, chosen at run time. `check` follows them all, as a
route typed against `TaskRepository` does reach the SQLite one."""

import ast

from fastapi_scaffold.check.model import Class, Function
from fastapi_scaffold.check.scopes import Project

PROTOCOLS = frozenset({"typing.Protocol", "typing_extensions.Protocol"})
ABSTRACT = frozenset({"abstractmethod", "abstractproperty"})
# A Protocol that many classes could match by name alone says too little to follow.
MAX_STRUCTURAL = 12


def implementations(project: Project, qname: str) -> tuple[str, ...]:
    """The methods that can run instead of `qname` when it is called: the overrides in the
    project's subclasses of an abstract or stub method, or the same methods of the classes
    that match a Protocol. Empty for a method with a body of its own."""
    if qname in project.implemented:
        return project.implemented[qname]
    project.implemented[qname] = ()
    function = project.functions[qname]
    klass = function.cls
    found: list[str] = []
    if klass is not None and is_stub(function):
        name = function.node.name
        for sub in subclasses(project, klass):
            method = sub.methods.get(name)
            if method is not None and method != qname and not is_stub(project.functions[method]):
                found.append(method)
        if not found and is_protocol(project, klass):
            found = structural(project, klass, name)
    result = tuple(dict.fromkeys(found))
    project.implemented[qname] = result
    return result


def is_stub(function: Function) -> bool:
    """An abstract method, or one whose body only documents it, passes or raises
    NotImplementedError: what runs is elsewhere."""
    if not ABSTRACT.isdisjoint(function.decorator_names()):
        return True
    for node in function.node.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring or `...`
        if isinstance(node, ast.Pass):
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                continue
        return False
    return True


def is_protocol(project: Project, klass: Class) -> bool:
    return any(base in PROTOCOLS for base in project.bases(klass))


def subclasses(project: Project, klass: Class) -> list[Class]:
    """Every project class that derives from `klass`, directly or not."""
    if project.subclasses is None:
        index: dict[str, list[str]] = {}
        for other in list(project.classes.values()):
            try:
                bases = project.bases(other)
            except RecursionError:
                continue
            for base in bases:
                if base in project.classes and base != other.qname:
                    index.setdefault(base, []).append(other.qname)
        project.subclasses = index
    found: dict[str, Class] = {}
    stack = list(project.subclasses.get(klass.qname, []))
    while stack:
        qname = stack.pop()
        if qname in found or qname == klass.qname:
            continue
        found[qname] = project.classes[qname]
        stack.extend(project.subclasses.get(qname, []))
    return list(found.values())


def structural(project: Project, protocol: Class, name: str) -> list[str]:
    """The method `name` of the classes that define every method of a Protocol."""
    wanted = [m for m in protocol.methods if not m.startswith("__")]
    if project.by_method is None:
        by_method: dict[str, list[Class]] = {}
        for klass in project.classes.values():
            for method in klass.methods:
                by_method.setdefault(method, []).append(klass)
        project.by_method = by_method
    found = []
    for klass in project.by_method.get(name, []):
        if klass is protocol or is_protocol(project, klass):
            continue
        if all(m in klass.methods or project.method(klass, m) for m in wanted):
            found.append(klass.methods[name])
    return found if len(found) <= MAX_STRUCTURAL else []
