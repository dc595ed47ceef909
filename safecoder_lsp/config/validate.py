"""Checking values against the schema, and the problems reported for bad ones.

Nothing here raises on bad input except :func:`coerce` (a public helper): an unknown
key, a wrong type or an out-of-range value becomes a :class:`ConfigProblem` naming the
key, the source and the fix. The allowed values in messages come from the schema
(for ``engine.kind`` and ``model.fim_template``: from their registries).
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from typing import Any

from safecoder_lsp.config.schema import SECTIONS, SPECS, KeySpec


# -- problems and results ---------------------------------------------------------------
@dataclass(frozen=True)
class ConfigProblem:
    """Something wrong with the configuration; the server keeps running regardless.

    ``key`` is the dotted key (or the environment variable name for an unknown
    ``SAFECODER_*`` variable, or "" for a problem with a whole source such as a
    broken file); ``source`` says where it came from, e.g. ``user file /path``,
    ``env SAFECODER_X``, ``initializationOptions`` or ``workspace settings``.
    """

    key: str
    message: str
    fix: str
    source: str

    def __str__(self) -> str:
        message = self.message.rstrip(". ")
        if self.key:
            text = f"{self.key}: {message}"
            if self.source and self.source != f"env {self.key}":
                text += f" (from {self.source})"
        else:
            text = f"{self.source}: {message}" if self.source else message
        text += "."
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class Invalid(Exception):
    pass


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def expected(spec: KeySpec) -> str:
    if spec.choices:
        return "one of " + ", ".join(spec.choices)
    if spec.type in (int, float):
        noun = "an integer" if spec.type is int else "a number"
        if spec.min is not None and spec.max is not None:
            return f"{noun} from {num(spec.min)} to {num(spec.max)}"
        if spec.min is not None:
            return f"{noun} of at least {num(spec.min)}"
        if spec.max is not None:
            return f"{noun} of at most {num(spec.max)}"
        return noun
    if spec.type is bool:
        return "true or false"
    if spec.type is list:
        return "a list of strings"
    return "a string"


def fix_for(spec: KeySpec, from_env: bool) -> str:
    if spec.choices:
        return f"set it to one of: {', '.join(spec.choices)}."
    if spec.type in (int, float):
        example = spec.default
        return f"set it to a number such as {num(example)}."
    if spec.type is bool:
        if from_env:
            return "set it to true or false (1/0, yes/no, on/off also work)."
        return "set it to true or false (without quotes)."
    if spec.type is list:
        if from_env:
            return 'set it to comma-separated words, or a JSON array such as ["a", "b"].'
        return 'set it to a list of strings such as ["a", "b"].'
    return 'set it to a string (in TOML: in quotes, such as "value").'


def show(value: Any, limit: int = 80) -> str:
    """A value as it would be written in JSON, shortened for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def parse_text(spec: KeySpec, text: str) -> Any:
    """Parse an environment value (always text) to the key's type."""
    t = spec.type
    stripped = text.strip()
    if t is bool:
        low = stripped.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise Invalid
    if t is int:
        try:
            return int(stripped)
        except ValueError:
            raise Invalid from None
    if t is float:
        try:
            return float(stripped)
        except ValueError:
            raise Invalid from None
    if t is list:
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                raise Invalid from None
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return text


def coerce_value(spec: KeySpec, value: Any) -> Any:
    """The value checked against the key's type and rules; raises ``Invalid``."""
    t = spec.type
    if t is bool:
        if not isinstance(value, bool):
            raise Invalid
    elif t is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid
        value = float(value)
        if not math.isfinite(value):
            raise Invalid
    elif t is str:
        if not isinstance(value, str):
            raise Invalid
    elif t is list:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise Invalid
        value = tuple(value)
    if spec.choices:
        canonical = {c.lower(): c for c in spec.choices}
        if value.lower() not in canonical:
            raise Invalid
        value = canonical[value.lower()]
    if t in (int, float) and (
        (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max)
    ):
        raise Invalid
    return value


def coerce(spec: KeySpec, value: Any, *, from_text: bool = False) -> Any:
    """``value`` as ``spec``'s type, or ``ValueError`` naming what is expected.

    With ``from_text`` a string is parsed first, as for environment variables.
    """
    try:
        if from_text and isinstance(value, str):
            value = parse_text(spec, value)
        return coerce_value(spec, value)
    except Invalid:
        raise ValueError(f"expected {expected(spec)}, got {show(value)}") from None


def _suggest(key: str) -> str | None:
    """The known key a misspelt or misplaced key most likely meant."""
    section, _, name = key.rpartition(".")
    same_name = [k for k, s in SPECS.items() if s.name == name]
    if len(same_name) == 1:
        return same_name[0]
    if section in SECTIONS:
        names = [s.name for s in SPECS.values() if s.section == section]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        return f"{section}.{close[0]}" if close else None
    close = difflib.get_close_matches(key, list(SPECS), n=1, cutoff=0.75)
    return close[0] if close else None


KEYS_HINT = "the keys are listed by `python -m safecoder_lsp.config --markdown`"


def unknown_key(key: str, source: str) -> ConfigProblem:
    guess = _suggest(key)
    if key in SECTIONS:
        example = next(k for k, s in SPECS.items() if s.section == key)
        fix = f"{key} is a section: set its keys, such as {example} ({KEYS_HINT})."
    elif guess:
        fix = f"did you mean {guess}? Otherwise remove it ({KEYS_HINT})."
    else:
        fix = f"remove it ({KEYS_HINT})."
    return ConfigProblem(key, "unknown configuration key", fix, source)
