"""`fastapi-scaffold check` measured on real code: recall on public projects' own fixes of
event-loop blocking, precision judged by hand on large public codebases, and speed there.

    python -m bench.check_eval                      # everything; writes docs/check-evaluation.md
    python -m bench.check_eval --part recall        # or: precision
    FSC_EVAL_SRC=/work/eval-src python -m bench.check_eval --mirrors /work/.mirror

Recall. For each fix in the manifest, `check` runs on the tree before the fix. A blocking call
the fix removed counts as found when some finding's chain (the call in the root, the calls on
the way, or the blocking call itself), or the chain of another blocking call the finding names
as reached through the same call in the root, has a step in that file on a line of that call
expression: a finding elsewhere in the file does not count. ruff's ASYNC rules and
flake8-async are scored the same way on the same files (a diagnostic on a line of the call).
`check` then runs on the tree after the fix, and the findings whose chain still passes through
a fixed function are listed: what the fix left, or what `check` still (wrongly) reports.

Precision. `check` runs on each codebase; every finding is judged, or a sample of
`sample_size` drawn with the manifest's seed where there are more. Judgements live in the
manifest, keyed by (file, line, code, root); a sampled finding without one is listed as
"not judged" so that it can be added. Lines, run time, lines/s and peak RSS are measured on
the same run (`--speed` repeats it and keeps the fastest, for point 7's row).
"""

import argparse
import json
import os
import random
import resource
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.eval_manifest import (
    BlockingCall,
    Codebase,
    Fix,
    Judgement,
    Manifest,
    ManifestError,
    MissingCheckout,
    call_span,
    checkout,
    load,
)
from bench.eval_tools import (
    Place,
    Run,
    count_lines,
    run_check,
    run_flake8_async,
    run_ruff,
)

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "bench" / "check_eval_manifest.toml"
OUT = ROOT / "docs" / "check-evaluation.md"
TOOLS = ("check", "ruff ASYNC", "flake8-async")


@dataclass(frozen=True)
class CallResult:
    fix: Fix
    call: BlockingCall
    found: dict[str, bool]  # tool -> found
    check_ends: tuple[str, ...] = ()  # what check's matching findings name as the blocking call


@dataclass(frozen=True)
class FixResult:
    fix: Fix
    calls: list[CallResult]
    left_after: list[dict[str, Any]]  # findings in the after tree through a fixed function
    reported: dict[str, int]  # tool -> places it pointed at in the before tree (sanity)


@dataclass(frozen=True)
class CodebaseResult:
    codebase: Codebase
    files: int
    lines: int
    run: Run
    sampled: list[dict[str, Any]]
    judged: list[tuple[dict[str, Any], Judgement | None]]
    cpu: float = 0.0  # CPU seconds of the run kept
    load: float = 0.0  # the machine's 1-minute load average as it ended


def _root(tree: Path, sub: str) -> Path:
    return tree / sub if sub else tree


def _relative(call: BlockingCall, sub: str) -> str:
    """The call's file relative to the directory `check` runs on."""
    if not sub:
        return call.file
    return Path(call.file).relative_to(sub).as_posix()


def score_fix(fix: Fix, src: Path, mirrors: Path) -> FixResult:
    before = _root(checkout(fix.repo, fix.before, src, mirrors), fix.root)
    after = _root(checkout(fix.repo, fix.after, src, mirrors), fix.root)
    spans = {call: call_span(before, _as_rooted(call, fix.root)) for call in fix.calls}
    files = sorted({_relative(call, fix.root) for call in fix.calls})
    findings = run_check(before).findings
    places: dict[str, list[Place]] = {
        "check": [p for f in findings for p in finding_places(f)],
        "ruff ASYNC": run_ruff(before, files),
        "flake8-async": run_flake8_async(before, files),
    }
    results = []
    for call in fix.calls:
        path = _relative(call, fix.root)
        first, last = spans[call]
        found = {
            tool: any(p.path == path and first <= p.line <= last for p in places[tool])
            for tool in TOOLS
        }
        ends = sorted(
            {
                f"{code} `{chain[-1]['call']}` {chain[-1]['path']}:{chain[-1]['line']}"
                for f in findings
                for code, chain in [
                    (f["code"], f["chain"]),
                    *((other["code"], other["chain"]) for other in f.get("also", [])),
                ]
                if any(s["path"] == path and first <= s["line"] <= last for s in chain)
            }
        )
        results.append(CallResult(fix, call, found, tuple(ends)))
    fixed = {(_relative(c, fix.root), c.function.split(".")[-1]) for c in fix.calls}
    left = [
        finding
        for finding in run_check(after).findings
        if any((s["path"], s["function"].split(".")[-1]) in fixed for s in finding["chain"])
    ]
    return FixResult(fix, results, left, {tool: len(places[tool]) for tool in TOOLS})


def finding_places(finding: dict[str, Any]) -> list[Place]:
    """Every call a finding points at: the call in the root, each call on the way and the
    blocking call itself, and the same for each other blocking call it names (`also`) as
    reached through the same call in the root."""
    chains = [finding["chain"], *(other["chain"] for other in finding.get("also", []))]
    return [Place(step["path"], step["line"]) for chain in chains for step in chain]


def _as_rooted(call: BlockingCall, sub: str) -> BlockingCall:
    """The same call with its file relative to `sub`, for reading it from the rooted tree."""
    return BlockingCall(
        file=_relative(call, sub),
        function=call.function,
        line=call.line,
        call=call.call,
        kind=call.kind,
        io=call.io,
    )


def finding_key(finding: dict[str, Any]) -> tuple[str, int, str, str]:
    return (finding["path"], finding["line"], finding["code"], finding["root"]["label"])


def sample(findings: list[dict[str, Any]], size: int, seed: int) -> list[dict[str, Any]]:
    """Every finding, or `size` of them drawn with `seed` from the findings in a stable order."""
    ordered = sorted(findings, key=finding_key)
    if len(ordered) <= size:
        return ordered
    return sorted(random.Random(seed).sample(ordered, size), key=finding_key)


def score_codebase(
    codebase: Codebase, manifest: Manifest, src: Path, mirrors: Path, repeats: int
) -> CodebaseResult:
    tree = _root(checkout(codebase.repo, codebase.commit, src, mirrors), codebase.root)
    files, lines = count_lines(tree)
    measured = [_timed(tree) for _ in range(repeats)]
    run, cpu, load = min(measured, key=lambda m: m[0].seconds)
    picked = sample(run.findings, manifest.sample_size, manifest.seed)
    by_key = {(j.file, j.line, j.code, j.root): j for j in codebase.judgements}
    judged = [(finding, by_key.get(finding_key(finding))) for finding in picked]
    return CodebaseResult(codebase, files, lines, run, picked, judged, cpu, load)


def _timed(tree: Path) -> tuple[Run, float, float]:
    """One run of `check`, with the CPU seconds it used (which other work on the machine
    inflates far less than wall time) and the 1-minute load average when it ended."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = run_check(tree)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return run, cpu, os.getloadavg()[0]


# ---------------------------------------------------------------------------------------------
# The report


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def _mark(found: bool) -> str:
    return "found" if found else "-"


def recall_section(results: list[FixResult], kinds: dict[str, str]) -> list[str]:
    calls = [c for r in results for c in r.calls]
    repos = len({r.fix.repo for r in results})
    lines = [
        "## Recall: real fixes of event-loop blocking",
        "",
        f"{len(results)} fixes in {repos} public repositories, {len(calls)} blocking calls "
        "removed from the event loop. A call counts as found when a finding's chain (or the "
        "chain of another blocking call it names as reached through the same call) has a "
        "step on a line of that call expression, in that file; ruff and flake8-async when a "
        "diagnostic is on such a line.",
        "",
        "| fix | repository@commit (before) | file:line | function | call | kind | "
        + " | ".join(TOOLS)
        + " | check's blocking call |",
        "| --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in TOOLS) + " | --- |",
    ]
    for result in results:
        fix = result.fix
        for c in result.calls:
            call = c.call
            row = [
                fix.id,
                f"{fix.repo}@{fix.before[:10]}",
                f"`{call.file}:{call.line}`",
                f"`{call.function}`",
                f"`{call.call}`",
                call.kind,
                *(_mark(c.found[tool]) for tool in TOOLS),
                "<br>".join(c.check_ends),
            ]
            lines.append("| " + " | ".join(row) + " |")
    reported = {tool: sum(r.reported[tool] for r in results) for tool in TOOLS}
    lines += [
        "",
        "Each tool did run: over the trees before the fixes, `check`'s findings have "
        f"{reported['check']} chain steps; on the files of the fixed calls, ruff ASYNC "
        f"reported {reported['ruff ASYNC']} diagnostics and flake8-async "
        f"{reported['flake8-async']}.",
    ]
    lines += ["", "| kind | calls | " + " | ".join(TOOLS) + " |"]
    lines.append("| --- | --- | " + " | ".join("---" for _ in TOOLS) + " |")
    by_kind: dict[str, list[CallResult]] = defaultdict(list)
    for c in calls:
        by_kind[c.call.kind].append(c)
    for kind in sorted(by_kind, key=lambda k: (list(kinds).index(k) if k in kinds else 99, k)):
        group = by_kind[kind]
        counts = [_percent(sum(c.found[t] for c in group), len(group)) for t in TOOLS]
        lines.append(f"| {kind} | {len(group)} | " + " | ".join(counts) + " |")
    overall = [_percent(sum(c.found[t] for c in calls), len(calls)) for t in TOOLS]
    lines.append(f"| **all** | {len(calls)} | " + " | ".join(f"**{o}**" for o in overall) + " |")
    fixes_found = [
        _percent(sum(any(c.found[t] for c in r.calls) for r in results), len(results))
        for t in TOOLS
    ]
    lines.append(
        f"| fixes with any call found | {len(results)} | " + " | ".join(fixes_found) + " |"
    )
    if kinds:
        lines += ["", "Kinds:", ""]
        lines += [f"- **{kind}**: {text}" for kind, text in kinds.items()]
    lines += ["", "### Findings left in the fixed code", ""]
    lines.append(
        "`check` on the tree after each fix: findings whose chain passes through a function "
        "the fix changed (by file and name)."
    )
    lines.append("")
    left_any = False
    for result in results:
        for finding in result.left_after:
            left_any = True
            step = finding["chain"][0]
            blocking = finding["chain"][-1]["call"]
            lines.append(
                f"- {result.fix.id}@{result.fix.after[:10]}: "
                f"`{finding['path']}:{finding['line']}` {finding['code']} `{blocking}` "
                f"from {finding['root']['label']} "
                f"(via `{step['path']}:{step['line']} {step['call']}`)"
            )
    if not left_any:
        lines.append("None.")
    return lines


def precision_section(results: list[CodebaseResult]) -> list[str]:
    lines = [
        "## Precision: findings on large codebases, judged by hand",
        "",
        "| codebase | repository@commit | .py files | lines | findings | judged | real | "
        "precision | time (s) | lines/s | CPU (s) | lines/CPU s | load | peak RSS (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    total_judged = total_real = 0
    fp_kinds: Counter[str] = Counter()
    for r in results:
        judged = [j for _, j in r.judged if j is not None]
        real = sum(j.real for j in judged)
        total_judged += len(judged)
        total_real += real
        fp_kinds.update(j.kind or "unsorted" for j in judged if not j.real)
        lines.append(
            f"| {r.codebase.id} | {r.codebase.repo}@{r.codebase.commit[:10]} | {r.files} | "
            f"{r.lines:,} | {len(r.run.findings)} | {len(judged)}/{len(r.sampled)} | {real} | "
            f"{_percent(real, len(judged))} | {r.run.seconds:.1f} | "
            f"{r.lines / r.run.seconds:,.0f} | {r.cpu:.1f} | "
            f"{r.lines / r.cpu if r.cpu else 0:,.0f} | {r.load:.1f} | {r.run.peak_rss_mib:.0f} |"
        )
    lines += ["", f"Overall: {_percent(total_real, total_judged)} of judged findings are real."]
    if fp_kinds:
        lines += ["", "False positives by kind:", ""]
        lines += [f"- {kind}: {count}" for kind, count in fp_kinds.most_common()]
    for r in results:
        lines += ["", f"### {r.codebase.id}", ""]
        lines.append("| finding | root | blocking call | real | kind | reason |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for finding, judgement in r.judged:
            where = f"`{finding['path']}:{finding['line']}` {finding['code']}"
            call = f"`{finding['chain'][-1]['call']}`"
            if judgement is None:
                verdict, kind, reason = "not judged", "", ""
            else:
                verdict = "yes" if judgement.real else "**no**"
                kind, reason = judgement.kind, judgement.reason
            label = finding["root"]["label"].replace("|", "\\|")
            lines.append(f"| {where} | {label} | {call} | {verdict} | {kind} | {reason} |")
    return lines


def render(
    recall: list[FixResult] | None,
    precision: list[CodebaseResult] | None,
    kinds: dict[str, str],
    notes: str = "",
) -> str:
    lines = [
        "# `fastapi-scaffold check` on real code",
        "",
        "Written by `python -m bench.check_eval` from `bench/check_eval_manifest.toml`; "
        "the manifest holds facts about public repositories (commits, files, lines, calls, "
        "judgements), never their code.",
        "",
    ]
    if recall is not None:
        lines += recall_section(recall, kinds) + [""]
    if precision is not None:
        lines += precision_section(precision) + [""]
    if notes.strip():
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--src",
        type=Path,
        default=Path(os.environ.get("FSC_EVAL_SRC", "/work/eval-src")),
        help="where checkouts live, one directory per repository and commit",
    )
    parser.add_argument(
        "--mirrors",
        type=Path,
        default=Path(os.environ.get("FSC_EVAL_MIRRORS", "/work/.mirror")),
        help="bare git mirrors (<owner>+<name>/repo) to make missing checkouts from",
    )
    parser.add_argument("--part", choices=("recall", "precision", "all"), default="all")
    parser.add_argument(
        "--speed", action="store_true", help="run check 3 times per codebase, keep the fastest"
    )
    parser.add_argument(
        "--findings-dir",
        type=Path,
        help="also write each codebase's findings as <id>.json there, to judge them",
    )
    args = parser.parse_args(argv)
    manifest = load(args.manifest)
    try:
        recall = None
        if args.part in ("recall", "all"):
            recall = [score_fix(fix, args.src, args.mirrors) for fix in manifest.fixes]
        precision = None
        if args.part in ("precision", "all"):
            repeats = 3 if args.speed else 1
            precision = [
                score_codebase(c, manifest, args.src, args.mirrors, repeats)
                for c in manifest.codebases
            ]
            if args.findings_dir:
                args.findings_dir.mkdir(parents=True, exist_ok=True)
                for result in precision:
                    path = args.findings_dir / f"{result.codebase.id}.json"
                    path.write_text(json.dumps(result.run.findings, indent=1), encoding="utf-8")
    except (ManifestError, MissingCheckout) as exc:
        print(f"check_eval: {exc}", file=sys.stderr)
        return 2
    report = render(recall, precision, manifest.kinds, manifest.notes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
