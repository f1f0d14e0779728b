"""`fastapi-scaffold check`: find blocking calls that run on the asyncio event loop of a FastAPI
project, by reading its code (never importing or running it).

    report = check(Path("my-service"), select=["FSB2"], ignore=["FSB204"])
    for finding in report.findings:
        print(finding.root.label, [str(step) for step in finding.chain])
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fastapi_scaffold.check.analysis import analyse
from fastapi_scaffold.check.blocking import PROJECT_RULE_CODE, RULES, Rule
from fastapi_scaffold.check.findings import Finding
from fastapi_scaffold.check.model import Step
from fastapi_scaffold.check.roots import Root
from fastapi_scaffold.check.scopes import Project
from fastapi_scaffold.check.settings import settings
from fastapi_scaffold.errors import CheckConfigError, CheckPathMissing

__all__ = [
    "RULES",
    "Finding",
    "Report",
    "Root",
    "Rule",
    "Step",
    "check",
    "check_project",
    "parse_codes",
]


@dataclass(frozen=True)
class Report:
    """What `check` found under a path, and what it read to find it."""

    path: Path
    findings: tuple[Finding, ...]
    # One line per file (or function) not checked, and why:
    # "pkg/mod.py:12: syntax error (...); file not checked". The CLI prints them on stderr.
    errors: tuple[str, ...]
    roots: tuple[Root, ...]
    has_app: bool
    files: int
    lines: int
    rules: tuple[Rule, ...]


def check(
    path: Path,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
) -> Report:
    """Check the project at `path` (a directory or one file); `select`/`ignore` take rule codes
    or prefixes ("FSB2" for every database rule), as ruff's options do."""
    return check_project(path, select, ignore)[0]


def check_project(
    path: Path,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
) -> tuple[Report, Project]:
    """`check`, with all the analysis knows of the code besides (what `--fix` asks of it)."""
    path = Path(path)
    if not path.exists():
        raise CheckPathMissing(f"{path} does not exist", "give the project's directory or a file")
    configured = settings(path)
    rules = RULES + configured.rules
    known = sorted({rule.code for rule in rules} | {PROJECT_RULE_CODE})
    selected = parse_codes(select or [], known)
    ignored = parse_codes(ignore or [], known)
    project, roots, findings = analyse(path.resolve(), rules, configured.max_file_bytes)
    noqa = {module.rel: module.noqa for module in project.modules.values()}
    kept = [
        finding
        for finding in findings
        if _selected(finding.code, selected, ignored) and not _silenced(finding, noqa)
    ]
    report = Report(
        path=path,
        findings=tuple(_one_per_call(kept)),
        errors=tuple(project.errors),
        roots=tuple(roots),
        has_app=project.has_app,
        files=project.files,
        lines=project.lines,
        rules=rules,
    )
    return report, project


def parse_codes(values: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    """Codes or prefixes from options that may each hold several, comma-separated."""
    codes = []
    for value in values:
        for code in value.split(","):
            code = code.strip().upper()
            if not code:
                continue
            if not any(k.startswith(code) for k in known):
                raise CheckConfigError(
                    f"no rule code starts with {code!r}",
                    f"use codes or prefixes of {', '.join(known)}",
                )
            codes.append(code)
    return tuple(codes)


def _selected(code: str, selected: tuple[str, ...], ignored: tuple[str, ...]) -> bool:
    if selected and not any(code.startswith(prefix) for prefix in selected):
        return False
    return not any(code.startswith(prefix) for prefix in ignored)


def _silenced(finding: Finding, noqa: dict[str, dict[int, frozenset[str] | None]]) -> bool:
    """`# noqa` on the blocking call's line, or on a call leading to it (the handler's call),
    naming the code, one of the equivalent ruff codes, or nothing (everything)."""
    names = {finding.code, *finding.rule.ruff}
    for step in finding.chain:
        lines = noqa.get(step.path, {})
        if step.line in lines:
            codes = lines[step.line]
            if codes is None or names & codes:
                return True
    return False


def _one_per_call(findings: list[Finding]) -> list[Finding]:
    """One finding per root and call in it that leads to blocking: inlining one `db.get_item()`
    reaches a connect, a cursor, an execute; the fix is at the one call. The shortest chain is
    shown, the others listed under it."""
    groups: dict[tuple[str, str, str, int, int], list[Finding]] = {}
    for finding in findings:
        first = finding.chain[0]
        key = (finding.root.qname, finding.root.label, first.path, first.line, first.column)
        groups.setdefault(key, []).append(finding)
    kept = []
    for group in groups.values():
        group.sort(key=lambda f: (len(f.chain), f.call.path, f.call.line, f.call.column))
        others = tuple((f.rule, f.chain) for f in group[1:])
        kept.append(replace(group[0], more=len(group) - 1, others=others))
    kept.sort(key=lambda f: (f.call.path, f.call.line, f.call.column, f.root.label))
    return kept
