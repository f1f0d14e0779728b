"""Part 4: the tool. `fastapi-scaffold new --defaults` against plain `copier copy` of the same
template, `fastapi-scaffold --help`, and `fastapi-scaffold check`'s speed (bench.check_speed)."""

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import check_speed, servers
from bench.common import Mode, Target, each, median, ratio, seconds, table, verdict

NEW_VS_COPIER = 1.2
BIN = Path(sys.executable).parent


@dataclass
class Result:
    label: str
    walls_s: list[float] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return median(self.walls_s)


@dataclass
class Section:
    mode: Mode
    results: dict[str, Result]
    check_lines: int = 0
    check_lines_per_s: list[float] = field(default_factory=list)

    @property
    def check_rate(self) -> float:
        return median(self.check_lines_per_s)

    def to_copier(self, key: str) -> float:
        return self.results[key].wall_s / self.results["copier"].wall_s


def measure(mode: Mode, root: Path) -> Section:
    results = {
        # What copier does too: render. `new` also makes a git repository by default.
        "new": Result("`fastapi-scaffold new DIR --defaults --no-git --no-lock`"),
        "new_git": Result(
            "`fastapi-scaffold new DIR --defaults --no-lock` (and its git repository)"
        ),
        "copier": Result("`copier copy --defaults --vcs-ref HEAD -d project_name=x REPO DIR`"),
        "help": Result("`fastapi-scaffold --help`"),
        "import_copier": Result("`python -c 'import copier'`"),
        "import_cli": Result("`python -c 'import fastapi_scaffold.cli'`"),
    }
    scaffold, copier = str(BIN / "fastapi-scaffold"), str(BIN / "copier")
    for run in range(mode.tool_runs):  # interleaved: drift hits every command alike
        directory = root / f"tool-{run}"
        directory.mkdir()
        commands = {
            # --no-lock: copier writes no lock, and uv's index requests are the network's time
            "new": [scaffold, "new", str(directory / "generated"), "--defaults", "--no-git"]
            + ["--no-lock"],
            "new_git": [scaffold, "new", str(directory / "with-git"), "--defaults", "--no-lock"],
            "copier": [copier, "copy", "--defaults", "--vcs-ref", "HEAD", "-d", "project_name=x"]
            + [str(servers.ROOT), str(directory / "copied")],
            "help": [scaffold, "--help"],
            "import_copier": [sys.executable, "-c", "import copier"],
            "import_cli": [sys.executable, "-c", "import fastapi_scaffold.cli"],
        }
        for key, argv in commands.items():
            results[key].walls_s.append(servers.timed_command(argv, directory))
    print(f"  new {results['new'].wall_s:.2f} s", file=sys.stderr)
    section = Section(mode, results)
    # A smoke run checks a smaller service; the full one, the 100,000 lines of the target.
    section.check_lines = check_speed.TARGET_LINES if mode.tool_runs > 1 else 10_000
    for _ in range(min(mode.tool_runs, 3)):
        section.check_lines_per_s.append(check_speed.measure(section.check_lines))
    return section


def targets(section: Section) -> list[Target]:
    to_copier = section.to_copier("new")
    rate = section.check_rate
    return [Target(f"`new` <= {NEW_VS_COPIER}x plain copier", ratio(to_copier, 3),
                   to_copier <= NEW_VS_COPIER),
            Target(f"`check` >= {check_speed.MIN_LINES_PER_S:,} lines/s", f"{rate:,.0f} lines/s",
                   rate >= check_speed.MIN_LINES_PER_S)]  # fmt: skip


def lines(section: Section) -> list[str]:
    rows = []
    for key, result in section.results.items():
        target = verdict(section.to_copier(key) <= NEW_VS_COPIER) if key == "new" else ""
        rows.append(
            [
                result.label,
                f"{seconds(result.wall_s)} ({each(result.walls_s)})",
                ratio(section.to_copier(key), 3),
                target,
            ]
        )
    return [
        "## 4. The tool",
        "",
        f"Wall time of each command, {section.mode.tool_runs} interleaved run(s), each into a "
        "new directory. REPO is this repository: both render its working tree (copier "
        "includes uncommitted changes of a local HEAD).",
        "",
        *table(["command", "wall s: median (each)", "x copier", "target"], rows),
        "",
        f"`fastapi-scaffold check` on a synthetic {section.check_lines:,}-line service "
        "(`bench/check_speed.py`: route packages calling helpers, methods and a sync Session "
        "across modules), cold: "
        + ", ".join(f"{rate:,.0f}" for rate in section.check_lines_per_s)
        + f" lines/s ({verdict(section.check_rate >= check_speed.MIN_LINES_PER_S)}).",
        "",
    ]


def findings(section: Section) -> list[str]:
    results = section.results
    to_copier = section.to_copier("new")
    extra = results["new"].wall_s - results["copier"].wall_s
    text = (
        f"- **the tool**: `new` takes {seconds(results['new'].wall_s)} s, {ratio(to_copier)} "
        f"plain copier ({extra * 1000:+.0f} ms); importing copier alone costs "
        f"{seconds(results['import_copier'].wall_s)} s of both, the CLI's own imports "
        f"{seconds(results['import_cli'].wall_s)} s (copier is imported only when rendering), "
        f"and `--help` answers in {seconds(results['help'].wall_s)} s. Making the project a "
        f"git repository with its first commit, as `new` does by default, adds "
        f"{(results['new_git'].wall_s - results['new'].wall_s) * 1000:+.0f} ms."
    )
    if to_copier > NEW_VS_COPIER:
        text += (
            " The extra time is the CLI's start-up (its imports, above) and the staging "
            "directory it renders into and moves into place."
        )
    return [text]
