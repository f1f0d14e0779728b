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
CHOICE_QUESTIONS = ("database", "orm", "http_client", "cpu_work")


@dataclass(frozen=True)
class Variant:
    database: str
    orm: str
    http_client: str
    cpu_work: str
    handler_style: str

    @property
    def id(self) -> str:
        """The variant's name in test ids and the CI matrix: the database (with its ORM, if
        any, after a "+"), the HTTP client and the CPU work, e.g. "asyncpg-httpx-process" or
        "asyncpg+sqlalchemy-httpx-process". Variants without an ORM keep the ids they had
        before the ORM was a choice."""
        database = self.database if self.orm == "none" else f"{self.database}+{self.orm}"
        return "-".join((database, self.http_client, self.cpu_work))

    @property
    def answers(self) -> dict[str, str]:
        """The answers that generate this variant."""
        return {name: getattr(self, name) for name in CHOICE_QUESTIONS}

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "answers": self.answers, "handler_style": self.handler_style}


def _render(expression: str, answers: dict[str, str]) -> str:
    import jinja2

    return jinja2.Environment().from_string(expression).render(**answers).strip()


def handler_style(database: str, http_client: str) -> str:
    """Render copier.yml's own `handler_style` expression, so the CLI never keeps a copy."""
    expression = copier_config()["handler_style"]["default"]
    return _render(expression, {"database": database, "http_client": http_client})


def asks(name: str, answers: dict[str, str]) -> bool:
    """Whether copier asks question `name` given the earlier `answers` (its `when:`)."""
    when = copier_config()[name].get("when", True)
    if isinstance(when, bool):
        return when
    return _render(str(when), answers).lower() not in {"", "false", "0", "no", "off", "none"}


def variants() -> list[Variant]:
    """Every combination of the choice questions that copier can be given, with the handler
    style it gets: a question copier does not ask (its `when:` false, e.g. `orm` without a
    database) takes only its default."""
    config = copier_config()
    q = questions()
    found = []
    for combination in itertools.product(*(q[name].choices for name in CHOICE_QUESTIONS)):
        answers = dict(zip(CHOICE_QUESTIONS, combination, strict=True))
        if any(
            not asks(name, answers) and value != str(config[name]["default"])
            for name, value in answers.items()
        ):
            continue
        style = handler_style(answers["database"], answers["http_client"])
        found.append(Variant(**answers, handler_style=style))
    return found
