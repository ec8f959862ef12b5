"""Filling ``[[NAME]]`` placeholders, and quoting values for YAML and TOML.

The placeholder syntax keeps clear of GitHub's ``${{ … }}`` expressions and of shell syntax, so the
templates read as the files they become.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\[\[([A-Z][A-Z0-9_]*)\]\]")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``[[NAME]]``; a name without a value is a bug in the caller, so it raises."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder [[{name}]] has no value")
        return values[name]

    return _PLACEHOLDER.sub(value, template)


def yaml_string(text: str) -> str:
    """A double-quoted YAML scalar (a JSON string is one, escapes and all)."""
    return json.dumps(text, ensure_ascii=False)


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for everything ``json.dumps`` emits)."""
    return json.dumps(text, ensure_ascii=False)
