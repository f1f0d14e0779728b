"""Where the template is, and what its copier.yml asks: the one source of questions, choices
and of the handler style each combination gets."""

import functools
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGED = Path(__file__).parent / "_template"
SOURCE_CHECKOUT = Path(__file__).parents[2]


def template_dir() -> Path:
    """The template this installation carries: inside the wheel, or the source checkout."""
    for candidate in (PACKAGED, SOURCE_CHECKOUT):
        if (candidate / "copier.yml").is_file():
            return candidate
    msg = f"fastapi-scaffold is installed without its template (no copier.yml in {PACKAGED})"
    raise RuntimeError(msg)


@functools.cache
def copier_config() -> dict[str, Any]:
    import yaml

    text = (template_dir() / "copier.yml").read_text(encoding="utf-8")
    config: dict[str, Any] = yaml.safe_load(text)
    return config


@dataclass(frozen=True)
class Question:
    name: str
    help: str
    choices: tuple[str, ...]
    computed: bool


def questions() -> dict[str, Question]:
    """Every question of copier.yml, asked or computed (`when: false`), in order."""
    found = {}
    for name, spec in copier_config().items():
        if name.startswith("_"):
            continue
        choices = spec.get("choices") or {}
        values = choices.values() if isinstance(choices, dict) else choices
        found[name] = Question(
            name=name,
            help=spec.get("help", ""),
            choices=tuple(str(value) for value in values),
            computed=spec.get("when") is False,
        )
    return found


def asked() -> dict[str, Question]:
    """The questions a user answers; computed ones are derived from these."""
    return {name: q for name, q in questions().items() if not q.computed}


# The questions whose choices make the variants, in the order a variant's id names them.
CHOICE_QUESTIONS = ("database", "http_client", "cpu_work")


@dataclass(frozen=True)
class Variant:
    database: str
    http_client: str
    cpu_work: str
    handler_style: str

    @property
    def id(self) -> str:
        """The variant's name in test ids and the CI matrix, e.g. "asyncpg-httpx-process"."""
        return "-".join(self.answers.values())

    @property
    def answers(self) -> dict[str, str]:
        """The answers that generate this variant."""
        return {name: getattr(self, name) for name in CHOICE_QUESTIONS}

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "answers": self.answers, "handler_style": self.handler_style}


def handler_style(database: str, http_client: str) -> str:
    """Render copier.yml's own `handler_style` expression, so the CLI never keeps a copy."""
    import jinja2

    expression = copier_config()["handler_style"]["default"]
    rendered = jinja2.Environment().from_string(expression)
    return rendered.render(database=database, http_client=http_client).strip()


def variants() -> list[Variant]:
    """Every combination of the choice questions, with the handler style it gets."""
    q = questions()
    return [
        Variant(database, http_client, cpu_work, handler_style(database, http_client))
        for database, http_client, cpu_work in itertools.product(
            *(q[name].choices for name in CHOICE_QUESTIONS)
        )
    ]
