"""The generated projects' own test helpers (a throwaway cluster, an upstream server), loaded
from the template so that both suites share one implementation."""

import importlib.machinery
from pathlib import Path
from types import ModuleType

TEMPLATE_TESTS = Path(__file__).resolve().parents[1] / "template" / "tests"


def _load(name: str, condition: str) -> ModuleType:
    """Load template/tests/<name>.py, whose file name carries the copier condition."""
    path = TEMPLATE_TESTS / f"{{% if {condition} %}}{name}.py{{% endif %}}"
    loader = importlib.machinery.SourceFileLoader(f"template_{name}", str(path))
    module = ModuleType(loader.name)
    loader.exec_module(module)
    return module


postgres = _load("postgres", "database != 'none'")
upstream_server = _load("upstream_server", "http_client != 'none'")
