"""PromQL label matchers: quoting a value, and reading a matcher list a user wrote
(``--prometheus-selector 'cluster="prod-eu"'``), checked before any query is sent."""

from __future__ import annotations

import re

_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def quote(value: str) -> str:
    """Return ``value`` as a PromQL double-quoted string (backslash, quote and newline escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def parse_matchers(text: str) -> tuple[str, ...]:
    """Return the label matchers of ``text`` (``cluster="prod-eu", env=~"p.*"``), each normalized.

    Raises ValueError naming what is wrong: a matcher list is added to every selector, so a
    typo must stop the command before any query, not come back as 400 on the first one.
    """
    text = text.strip().removeprefix("{").removesuffix("}").strip()
    if not text:
        return ()
    out: list[str] = []
    position = 0
    while position < len(text):
        found = _MATCHER.match(text, position)
        if found is None:
            raise ValueError(f'not a label matcher at {text[position:]!r} (expected e.g. cluster="prod")')
        name, op, value = found.groups()
        out.append(f'{name}{op}"{value}"')
        position = found.end()
        if position < len(text):
            if text[position] != ",":
                raise ValueError(f"expected a comma between label matchers at {text[position:]!r}")
            position += 1
    return tuple(out)
