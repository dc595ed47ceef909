"""The configuration reference generated from the schema, and its command line.

``python -m safecoder_lsp.config --markdown`` prints the reference table for the README;
``--json-schema`` prints a JSON Schema (draft 2020-12) for editor extensions;
``--update-readme README.md`` rewrites the README's reference section.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from safecoder_lsp.config.schema import KeySpec, config_keys
from safecoder_lsp.config.validate import num


def _default_text(spec: KeySpec) -> str:
    value = spec.default
    if spec.type is bool:
        return "true" if value else "false"
    if spec.type is list:
        return json.dumps(list(value))
    if spec.type in (int, float):
        return str(value)
    return json.dumps(value)


def _describe(spec: KeySpec) -> str:
    text = spec.doc
    if spec.choices:
        text += f"; one of {', '.join(spec.choices)}"
    elif spec.min is not None and spec.max is not None:
        text += f"; {num(spec.min)} to {num(spec.max)}"
    elif spec.min is not None:
        text += f"; at least {num(spec.min)}"
    elif spec.max is not None:
        text += f"; at most {num(spec.max)}"
    if not spec.workspace:
        text += ". Not accepted from workspace settings"
    return text


def render_markdown() -> str:
    """The configuration reference as a Markdown table (for the README)."""
    lines = [
        "| Key | Type | Default | Environment variable | Description |",
        "|---|---|---|---|---|",
    ]
    for spec in config_keys():
        cells = [
            f"`{spec.key}`",
            spec.type_name,
            f"`{_default_text(spec)}`",
            f"`{spec.env}`",
            _describe(spec),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for the settings object, keyed by dotted keys.

    Keys that workspace settings cannot change carry ``"scope": "machine"`` (the
    VS Code settings convention) in addition to the standard keywords.
    """
    props: dict[str, Any] = {}
    for spec in config_keys():
        prop: dict[str, Any] = {
            "type": _JSON_TYPES[spec.type],
            "default": list(spec.default) if spec.type is list else spec.default,
            "description": _describe(spec),
        }
        if spec.type is list:
            prop["items"] = {"type": "string"}
        if spec.choices:
            prop["enum"] = list(spec.choices)
        if spec.min is not None:
            prop["minimum"] = spec.min
        if spec.max is not None:
            prop["maximum"] = spec.max
        if not spec.workspace:
            prop["scope"] = "machine"
        props[spec.key] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "safecoder-lsp settings",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


README_START = "<!-- config-reference:start -->"
README_END = "<!-- config-reference:end -->"


def with_reference(readme: str) -> str:
    """The README text with the generated reference between its two markers."""
    start, end = readme.index(README_START), readme.index(README_END)
    return readme[: start + len(README_START)] + "\n" + render_markdown() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m safecoder_lsp.config",
        description="Print the safecoder-lsp configuration reference.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--markdown", action="store_true", help="the Markdown reference table")
    what.add_argument("--json-schema", action="store_true", help="a JSON Schema (2020-12)")
    what.add_argument(
        "--update-readme", metavar="README", help="rewrite the reference section of README"
    )
    args = parser.parse_args(argv)
    if args.update_readme:
        path = Path(args.update_readme)
        path.write_text(with_reference(path.read_text(encoding="utf-8")), encoding="utf-8")
    elif args.markdown:
        sys.stdout.write(render_markdown())
    else:
        sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0
