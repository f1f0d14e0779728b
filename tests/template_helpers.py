"""The generated projects' own test helpers (a throwaway cluster, an upstream server), loaded
from the template so that both suites share one implementation."""

from pathlib import Path
from types import ModuleType

TEMPLATE_TESTS = Path(__file__).resolve().parents[1] / "template" / "tests"


def _load(name: str, condition: str) -> ModuleType:
    """Load template/tests/<name>.py, whose file name carries the copier condition. Compiled
    here, never cached: a .pyc in template/tests/__pycache__ would be a template file, whose
    name (cut at its last dot) is Jinja that does not render."""
    path = TEMPLATE_TESTS / f"{{% if {condition} %}}{name}.py{{% endif %}}"
    module = ModuleType(f"template_{name}")
    module.__file__ = str(path)
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


postgres = _load("postgres", "database != 'none'")
upstream_server = _load("upstream_server", "http_client != 'none'")
