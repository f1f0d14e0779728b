"""A report as text for people, JSON for scripts, and SARIF 2.1.0 for GitHub code scanning."""

import hashlib
import json
from enum import StrEnum
from typing import Any

from fastapi_scaffold import __version__
from fastapi_scaffold.check import Finding, Report, Step

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/fastapi-scaffold-cli/"
# The other blocking calls through the same call that the text names (JSON has them all).
SHOWN_OTHERS = 5


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


def render(report: Report, format: Format) -> str:
    """The report in `format`, ready to print."""
    if format is Format.JSON:
        return json.dumps([as_json(finding) for finding in report.findings], indent=2)
    if format is Format.SARIF:
        return json.dumps(sarif(report), indent=2)
    return text(report)


def text(report: Report) -> str:
    """One block per finding, ruff-style first line, then the way there and the fix. What could
    not be checked is not here: the CLI prints it on stderr, and the last line counts it."""
    lines = []
    if not report.has_app:
        lines.append(
            f"no FastAPI app found in {report.path}: nothing runs on an event loop"
            + (f" ({_not_checked(report)})" if report.errors else "")
        )
        return "\n".join(lines)
    for finding in report.findings:
        call = finding.call
        lines.append(f"{call.path}:{call.line}:{call.column}: {finding.code} {finding.message}")
        root = finding.root
        lines.append(f"  {root.label}  ({root.path}:{root.line} {root.function})")
        for step in finding.chain:
            lines.append(f"    -> {step.path}:{step.line} {step.call}  (in {step.function})")
        if finding.others:
            lines.append("    also blocking through the same call:")
            for rule, chain in finding.others[:SHOWN_OTHERS]:
                way = " -> ".join(f"{step.path}:{step.line} {step.call}" for step in chain[1:])
                lines.append(f"      {rule.code} {way}")
            if finding.more > SHOWN_OTHERS:
                lines.append(f"      (and {finding.more - SHOWN_OTHERS} more)")
        lines.append(f"  fix: {finding.fix}")
    count = len(report.findings)
    if count:
        summary = f"Found {count} blocking call(s) on the event loop"
    else:
        summary = (
            f"No blocking calls on the event loop ({len(report.roots)} roots, "
            f"{report.files} files read)"
        )
    lines.append(f"{summary}; {_not_checked(report)}." if report.errors else f"{summary}.")
    return "\n".join(lines)


def _not_checked(report: Report) -> str:
    return f"{len(report.errors)} file(s) or function(s) not checked, named on stderr"


def as_json(finding: Finding) -> dict[str, Any]:
    """A finding as plain data; `chain` runs from the call in the root to the blocking call."""
    call = finding.call
    return {
        "code": finding.code,
        "message": finding.message,
        "path": call.path,
        "line": call.line,
        "column": call.column,
        "root": {
            "kind": finding.root.kind,
            "label": finding.root.label,
            "function": finding.root.function,
            "path": finding.root.path,
            "line": finding.root.line,
        },
        "chain": [_step(step) for step in finding.chain],
        "more": finding.more,
        # The other blocking calls reached through the same call in the root, each its chain.
        "also": [
            {"code": rule.code, "chain": [_step(step) for step in chain]}
            for rule, chain in finding.others
        ],
        "fix": finding.fix,
    }


def _step(step: Step) -> dict[str, Any]:
    return {
        "path": step.path,
        "line": step.line,
        "column": step.column,
        "function": step.function,
        "call": step.call,
    }


def _location(path: str, line: int, column: int, message: str | None = None) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line, "startColumn": column},
        }
    }
    if message is not None:
        location["message"] = {"text": message}
    return location


def sarif(report: Report) -> dict[str, Any]:
    """SARIF 2.1.0 as GitHub code scanning takes it: one run, the rules, and each result with
    its blocking call as location and the chain from the root as a code flow."""
    rules = [
        {
            "id": rule.code,
            "name": "".join(part.capitalize() for part in rule.name.split("-")),
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": f"{rule.summary}; use {rule.instead} instead."},
            "help": {
                "text": (
                    f"{rule.summary}. Make the handler `def` if it uses only blocking "
                    "libraries, offload the call with `await anyio.to_thread.run_sync(...)` "
                    f"if it also awaits async ones, or use {rule.instead}."
                )
            },
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["asyncio", "performance", "fastapi"]},
        }
        for rule in report.rules
    ]
    index = {rule.code: i for i, rule in enumerate(report.rules)}
    results = []
    for finding in report.findings:
        call = finding.call
        flow = [
            _location(step.path, step.line, step.column, f"{step.call} (in {step.function})")
            for step in finding.chain
        ]
        digest = hashlib.sha256(
            f"{finding.code}|{finding.root.label}|{call.path}|{call.call}".encode()
        ).hexdigest()[:32]
        results.append(
            {
                "ruleId": finding.code,
                "ruleIndex": index[finding.code],
                "level": "error",
                "message": {"text": f"{finding.message}. Fix: {finding.fix}."},
                "locations": [_location(call.path, call.line, call.column)],
                "relatedLocations": [
                    {"id": i, **location} for i, location in enumerate(flow[:-1], 1)
                ],
                "codeFlows": [
                    {
                        "message": {"text": finding.root.label},
                        "threadFlows": [{"locations": [{"location": loc} for loc in flow]}],
                    }
                ],
                "partialFingerprints": {"fastapiScaffoldCheck/v1": digest},
            }
        )
    notifications = [
        {"level": "error", "message": {"text": error}, "descriptor": {"id": "not-checked"}}
        for error in report.errors
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "fastapi-scaffold check",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
