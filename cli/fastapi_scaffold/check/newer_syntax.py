"""Syntax newer than the running Python, read anyway.

`check` runs on Python 3.11 and up, and the projects it reads may be written for 3.14. When
`ast.parse` refuses a file, `downgrade` rewrites the few constructs the older parser lacks into
ones it reads, with the same meaning for the analysis, on the same lines and, except on the
rewritten constructs, at the same columns (in UTF-8 bytes, as `ast` counts them):

- `type Alias[T] = value` (3.12) becomes `Alias = value`: a type alias, as the index reads one;
- type parameters, `def f[T: int = str](...)`, `class C[*Ts]` (3.12, 3.13), are blanked out;
- f-strings as 3.12 writes them (the same quotes inside, comments, backslashes, line breaks)
  and t-strings (3.14) become a tuple of their expressions, each at its place: the calls in
  them are still seen;
- `except A, B:` (3.14) gets its parentheses back;
- `lazy import x` and `lazy from x import y` (3.15) lose the `lazy`.

It is a scanner of strings, brackets and statement starts, not a parser: whatever it leaves
that the running parser still refuses makes the file unreadable, which `check` says.
Measured on a 100,000-line project: see bench/check_speed.py.
"""

import re

STRING_PREFIXES = frozenset(
    {"", "r", "u", "b", "br", "rb", "f", "fr", "rf", "t", "tr", "rt"}
)  # lower-cased
FORMATTED = frozenset({"f", "fr", "rf", "t", "tr", "rt"})

_NEWLINE = r"(?:\r\n|\r|\n)"
_QUOTE = r"(?P<quote>'''|\"\"\"|'|\")"
# What the scanner stops at in code: everything else is skipped by the regex engine.
_CODE = re.compile(
    rf"(?P<comment>\#[^\r\n]*)|(?P<cont>\\{_NEWLINE})|(?P<newline>{_NEWLINE})"
    rf"|(?P<string>(?P<prefix>\w{{0,2}}){_QUOTE})|(?P<open>[(\[{{])|(?P<close>[)\]}}])|(?P<semi>;)"
    r"|(?P<colon>:)"
)
# Inside a replacement field: where its expression ends (`=`, `!`, `:` or `}` at depth 0).
_FIELD = re.compile(
    rf"(?P<comment>\#[^\r\n]*)|(?P<string>(?P<prefix>\w{{0,2}}){_QUOTE})|(?P<open>[(\[{{])"
    r"|(?P<close>[)\]}])|(?P<op>!=|==|<=|>=)|(?P<mark>[!:=])"
)
_STRING = re.compile(rf"(?P<prefix>\w{{0,2}}){_QUOTE}")
# The end of a string that is not formatted, from just after its opening quote.
_STRING_END = {
    "'": re.compile(r"(?:[^'\\\r\n]|\\(?:\r\n|[\s\S]))*'"),
    '"': re.compile(r'(?:[^"\\\r\n]|\\(?:\r\n|[\s\S]))*"'),
    "'''": re.compile(r"(?:[^'\\]|\\[\s\S]|'(?!''))*'''"),
    '"""': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"""'),
}
# Literal text of a formatted string, up to a brace, a backslash or a quote.
_LITERAL = {
    "'": re.compile(r"[^{}\\'\r\n]*"),
    '"': re.compile(r'[^{}\\"\r\n]*'),
    "'''": re.compile(r"[^{}\\']*"),
    '"""': re.compile(r'[^{}\\"]*'),
}
_SPEC = re.compile(r"[^{}\\]*")
_DEBUG = re.compile(r"=[ \t]*")  # `{x=}`
_CONVERSION = re.compile(r"![ \t]*\w*[ \t]*")  # `{x!r}`
# Between two strings that concatenate: in brackets, line breaks and comments too.
_BETWEEN = re.compile(rf"(?:[ \t\f]|\\{_NEWLINE})*")
_BETWEEN_IN_BRACKETS = re.compile(rf"(?:[ \t\f\r\n]|\#[^\r\n]*|\\{_NEWLINE})*")
_STATEMENT = re.compile(
    r"[ \t\f]*(?:(?:async)[ \t]+)?(?P<keyword>def|class|type|except|lazy)(?![\w])"
)
# Statements whose header ends at a colon, after which a statement may follow on the line.
_COMPOUND = re.compile(
    r"[ \t\f]*(?:if|elif|else|while|for|try|except|finally|with|def|class|async|match|case)"
    r"(?![\w])"
)
_NAME_AND_BRACKET = re.compile(r"[ \t]+(?P<name>\w+)[ \t]*(?=\[)")
_ALIAS = re.compile(r"[ \t]+(?P<name>\w+)[ \t]*(?=\[|=(?!=))")
_LAZY = re.compile(r"[ \t]+(?P<keyword>import|from)(?![\w])")
_EXCEPT = re.compile(r"[ \t]*\*?[ \t]*")
_HEADER = re.compile(
    rf"(?P<comment>\#[^\r\n]*)|(?P<cont>\\{_NEWLINE})|(?P<newline>{_NEWLINE})"
    rf"|(?P<string>(?P<prefix>\w{{0,2}}){_QUOTE})|(?P<open>[(\[{{])|(?P<close>[)\]}}])"
    r"|(?P<colon>:)|(?P<comma>,)|(?P<as>(?<![\w])as(?![\w]))"
)
_NOT_NEWLINE = re.compile(r"[^\r\n]")


class Unreadable(Exception):
    """The scanner met something it cannot follow (an unterminated string...)."""


def downgrade(text: str) -> str:
    """`text` with the newer constructs rewritten for the running parser (see above)."""
    try:
        return _Rewriter(text).run()
    except (ValueError, IndexError) as exc:  # str.index, or a position past the end
        raise Unreadable(str(exc)) from exc


def _blank(text: str) -> str:
    """Spaces in place of `text`, as many bytes wide, its line breaks kept."""
    if text.isascii():
        return _NOT_NEWLINE.sub(" ", text)
    return "".join(c if c in "\r\n" else " " * len(c.encode()) for c in text)


class _String:
    """One string literal: where it is, whether formatted, and for a formatted one the spans
    of its expressions and the places of the commas that will separate them."""

    __slots__ = ("commas", "end", "formatted", "keeps", "start")

    def __init__(self, start: int, formatted: bool) -> None:
        self.start = start
        self.end = start
        self.formatted = formatted
        self.keeps: list[tuple[int, int]] = []
        self.commas: list[int] = []


class _Rewriter:
    def __init__(self, text: str) -> None:
        self.text = text
        self.edits: list[tuple[int, int, str]] = []

    def run(self) -> str:
        self.code()
        pieces = []
        position = 0
        for start, end, replacement in sorted(self.edits, key=lambda edit: (edit[0], edit[1])):
            pieces.append(self.text[position:start])
            pieces.append(replacement)
            position = end
        pieces.append(self.text[position:])
        return "".join(pieces)

    # code ---------------------------------------------------------------------------------

    def code(self) -> None:
        text = self.text
        position = 0
        depth = 0
        statement = True
        header = False  # in the header of a compound statement: `if x:`
        while position < len(text):
            if statement:
                header = _COMPOUND.match(text, position) is not None
                position = self.statement(position)
                statement = False
            match = _CODE.search(text, position)
            if match is None:
                return
            kind = match.lastgroup
            if kind == "string":
                position = self.strings(match, depth)
                continue
            position = match.end()
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth = max(depth - 1, 0)
            elif kind in {"newline", "semi"} and depth == 0:
                statement = True
            elif kind == "colon" and header and depth == 0:
                statement, header = True, False  # `if TYPE_CHECKING: type X = int`

    def statement(self, position: int) -> int:
        """At the start of a statement: rewrite the newer statement forms."""
        text = self.text
        match = _STATEMENT.match(text, position)
        if match is None:
            return position
        keyword = match.group("keyword")
        after = match.end()
        if keyword in {"def", "class"}:
            named = _NAME_AND_BRACKET.match(text, after)
            if named is None:
                return after
            return self.drop_type_params(named.end())
        if keyword == "type":
            alias = _ALIAS.match(text, after)
            if alias is None:
                return after
            name = alias.group("name")
            start, end = match.start("keyword"), alias.end("name")
            self.edits.append((start, end, name + " " * (end - start - len(name))))
            if text.startswith("[", alias.end()):
                return self.drop_type_params(alias.end())
            return alias.end()
        if keyword == "lazy":
            lazy = _LAZY.match(text, after)
            if lazy is None:
                return after
            start, end = match.start("keyword"), lazy.end()
            word = lazy.group("keyword")
            self.edits.append((start, end, word + " " * (end - start - len(word))))
            return end
        return self.except_clause(after)

    def drop_type_params(self, opening: int) -> int:
        """Blank `[...]` from `opening`; a line break inside gets a backslash before it, so that
        the statement goes on (in place of a blank, or added on an empty line)."""
        end = self.closing(opening)
        self.edits = [edit for edit in self.edits if not opening <= edit[0] < end]
        blank = re.sub(r" ?(\r\n|\r|\n)", r"\\\1", _blank(self.text[opening:end]))
        self.edits.append((opening, end, blank))
        return end

    def closing(self, opening: int) -> int:
        """Just past the bracket that closes the one at `opening`."""
        depth = 0
        position = opening
        while True:
            match = _CODE.search(self.text, position)
            if match is None:
                raise Unreadable(f"no closing bracket for the one at offset {opening}")
            kind = match.lastgroup
            if kind == "string":
                position = self.strings(match, depth)
                continue
            position = match.end()
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth -= 1
                if depth == 0:
                    return position

    def except_clause(self, after: int) -> int:
        """`except A, B:` (3.14) becomes `except(A, B):`; other except clauses stay."""
        text = self.text
        start = _EXCEPT.match(text, after).end()  # type: ignore[union-attr]
        depth = 0
        comma = named = False
        position = start
        while True:
            match = _HEADER.search(text, position)
            if match is None:
                return position
            kind = match.lastgroup
            if kind == "string":
                position = self.strings(match, depth)
                continue
            position = match.end()
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth = max(depth - 1, 0)
            elif depth:
                continue
            elif kind == "comma":
                comma = True
            elif kind == "as":
                named = True
            elif kind == "newline":
                return match.start()
            elif kind == "colon":
                if comma and not named:
                    if start > after and text[start - 1] in " \t":
                        self.edits.append((start - 1, start, "("))
                    else:
                        self.edits.append((start, start, "("))
                    self.edits.append((match.start(), match.start(), ")"))
                return match.start()

    # strings ------------------------------------------------------------------------------

    def strings(self, match: re.Match[str], depth: int) -> int:
        """The string literals that start at `match` and concatenate; if one of them is
        formatted, they all become one tuple of the expressions in them. Returns their end."""
        text = self.text
        group: list[_String] = []
        position = match.start()
        while True:
            found = _STRING.match(text, position)
            if found is None:
                break
            prefix = found.group("prefix")
            if prefix.lower() not in STRING_PREFIXES:
                if group:
                    break
                prefix = ""  # a keyword before a string: `return'x'`
            start = found.start("quote") - len(prefix)
            group.append(self.string(start, prefix.lower(), found.group("quote")))
            position = group[-1].end
            between = _BETWEEN_IN_BRACKETS if depth else _BETWEEN
            position = between.match(text, position).end()  # type: ignore[union-attr]
        if any(string.formatted for string in group):
            self.as_tuple(group)
        return group[-1].end if group else match.end()

    def string(self, start: int, prefix: str, quote: str) -> _String:
        text = self.text
        body = start + len(prefix) + len(quote)
        string = _String(start, prefix in FORMATTED)
        if not string.formatted:
            end = _STRING_END[quote].match(text, body)
            if end is None:
                raise Unreadable(f"unterminated string at offset {start}")
            string.end = end.end()
            return string
        raw = "r" in prefix
        literal = _LITERAL[quote]
        position = body
        while True:
            position = literal.match(text, position).end()  # type: ignore[union-attr]
            char = text[position : position + 1]
            if char == "\\":
                if not raw and text.startswith("N{", position + 1):
                    position = text.index("}", position) + 1
                elif text.startswith(("{", "}"), position + 1):
                    position += 1  # `\{x}` is a backslash, then a field
                else:
                    position += 3 if text.startswith("\r\n", position + 1) else 2
            elif char == "{":
                if text.startswith("{{", position):
                    position += 2
                else:
                    position = self.field(position, string)
            elif char == "}":
                position += 2 if text.startswith("}}", position) else 1
            elif char and text.startswith(quote, position):
                string.end = position + len(quote)
                return string
            elif char and char not in "\r\n":
                position += 1  # one quote inside a triple-quoted string
            else:
                raise Unreadable(f"unterminated string at offset {start}")

    def field(self, opening: int, string: _String) -> int:
        """A replacement field `{expr=!r:spec}` from its `{`: keeps `expr`, a comma after it,
        and the expressions of fields nested in the spec. Returns the end of the field."""
        text = self.text
        depth = 0
        position = opening + 1
        while True:
            match = _FIELD.search(text, position)
            if match is None:
                raise Unreadable(f"unterminated replacement field at offset {opening}")
            kind = match.lastgroup
            if kind == "string":
                position = self.strings(match, 1)
                continue
            position = match.end()
            if kind == "open":
                depth += 1
            elif kind == "close" and depth:
                depth -= 1
            elif kind == "close" or (kind == "mark" and not depth):
                break
        end = match.start()
        string.keeps.append((opening + 1, end))
        if not text[opening + 1 : end].rstrip().endswith(","):  # `{x,}` is a tuple already
            string.commas.append(end)
        position = end
        if text.startswith("=", position):
            position = _DEBUG.match(text, position).end()  # type: ignore[union-attr]
        if text.startswith("!", position):
            position = _CONVERSION.match(text, position).end()  # type: ignore[union-attr]
        if text.startswith(":", position):
            position = self.spec(position + 1, string)
        if not text.startswith("}", position):
            raise Unreadable(f"unterminated replacement field at offset {opening}")
        return position + 1

    def spec(self, position: int, string: _String) -> int:
        """A format spec, up to the `}` that ends its field; fields nested in it are kept."""
        text = self.text
        while True:
            position = _SPEC.match(text, position).end()  # type: ignore[union-attr]
            char = text[position : position + 1]
            if char == "{":
                position = self.field(position, string)
            elif char == "\\":
                position += 2
            elif char == "}":
                return position
            else:
                raise Unreadable(f"unterminated format spec at offset {position}")

    def as_tuple(self, group: list[_String]) -> None:
        """The concatenated strings as one tuple of their expressions: `(` for the first
        quote, `)` for the last, commas after expressions, blanks for the rest; what lies
        between the strings (spaces, comments, line breaks) stays."""
        first, last = group[0].start, group[-1].end - 1
        for string in group:
            kept = sorted(
                [(start, end, None) for start, end in string.keeps]
                + [(comma, comma + 1, ",") for comma in string.commas]
            )
            position = string.start
            for start, end, replacement in kept:
                if start > position:
                    self.blank(position, start, first, last)
                if replacement is not None:
                    self.edits.append((start, end, replacement))
                position = end
            if string.end > position:
                self.blank(position, string.end, first, last)

    def blank(self, start: int, end: int, first: int, last: int) -> None:
        blank = _blank(self.text[start:end])
        if start == first:
            blank = "(" + blank[1:]
        if end - 1 == last:
            blank = blank[:-1] + ")"
        self.edits.append((start, end, blank))
