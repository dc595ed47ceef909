"""Typed configuration: the generated reference and its command line
(safecoder_lsp/config/docs.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from safecoder_lsp.config import config_keys, json_schema, render_markdown

ROOT = Path(__file__).resolve().parents[3]


# -- docs -----------------------------------------------------------------------------------
def test_markdown_lists_every_key_and_env_var():
    md = render_markdown()
    lines = md.strip().splitlines()
    assert lines[0] == "| Key | Type | Default | Environment variable | Description |"
    assert lines[1].startswith("|---")
    rows = lines[2:]
    assert len(rows) == len(config_keys())
    for spec, row in zip(config_keys(), rows, strict=True):
        assert row.startswith(f"| `{spec.key}` | {spec.type_name} |")
        assert f"`{spec.env}`" in row
        assert spec.doc.replace("|", "\\|") in row
        assert ("Not accepted from workspace settings" in row) is (not spec.workspace)
        assert row.count(" | ") == 4
    assert "| `completion.max_tokens` | int | `64` | `SAFECODER_COMPLETION_MAX_TOKENS` |" in md
    assert "1 to 2048" in md


def test_json_schema_describes_every_key():
    schema = json.loads(json.dumps(json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert list(props) == [s.key for s in config_keys()]
    kinds = {bool: bool, "integer": int, "number": float, "string": str, "array": list}
    for spec in config_keys():
        prop = props[spec.key]
        assert prop["type"] in {"boolean", "integer", "number", "string", "array"}
        if prop["type"] == "boolean":
            assert isinstance(prop["default"], bool)
        else:
            assert isinstance(prop["default"], kinds[prop["type"]]), spec.key
        if spec.choices:
            assert prop["enum"] == list(spec.choices) and prop["default"] in prop["enum"]
        if "minimum" in prop:
            assert prop["minimum"] <= prop["default"]
        if "maximum" in prop:
            assert prop["default"] <= prop["maximum"]
        if prop["type"] == "array":
            assert prop["items"] == {"type": "string"}
        assert (prop.get("scope") == "machine") is (not spec.workspace)
    assert props["completion.max_tokens"]["minimum"] == 1
    assert props["completion.max_tokens"]["maximum"] == 2048


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safecoder_lsp.config", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_markdown():
    proc = _run("--markdown")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == render_markdown()
    for spec in config_keys():
        assert f"`{spec.key}`" in proc.stdout and spec.env in proc.stdout


def test_cli_json_schema():
    proc = _run("--json-schema")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json_schema()


def test_cli_needs_an_option():
    proc = _run()
    assert proc.returncode == 2
    assert "--markdown" in proc.stderr


def test_readme_configuration_reference_is_current():
    from safecoder_lsp.config import with_reference

    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert with_reference(text) == text, (
        "README.md's configuration reference is stale: run "
        "`python -m safecoder_lsp.config --update-readme README.md`"
    )


def test_vscode_extension_schema_copy_is_current():
    from safecoder_lsp.config import json_schema

    copy = ROOT / "editors" / "vscode" / "schema" / "settings.json"
    assert json.loads(copy.read_text(encoding="utf-8")) == json_schema(), (
        "editors/vscode/schema/settings.json is stale: run `python -m safecoder_lsp.config "
        "--json-schema > editors/vscode/schema/settings.json`, then `npm run gen-settings` "
        "in editors/vscode"
    )
