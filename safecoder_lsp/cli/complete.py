"""``safecoder-lsp complete FILE --line L --character C``: one completion through the
same pipeline as the language server, printed as text or JSON."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from languages import language_of
from safecoder_lsp.cli.output import (
    configure_logging,
    print_error,
    print_json,
    print_text,
    print_warning,
)

if TYPE_CHECKING:
    from safecoder_lsp.completion.service import CompletionResult
    from safecoder_lsp.repo_context.provider import RepoContext


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    complete = subparsers.add_parser("complete", help="complete FILE at a position (same pipeline)")
    complete.add_argument("file", help="the file, or - for standard input")
    complete.add_argument("--line", type=int, required=True, help="0-based line")
    complete.add_argument("--character", type=int, required=True, help="0-based character")
    complete.add_argument(
        "--encoding",
        choices=["utf-32", "utf-16", "utf-8"],
        default="utf-32",
        help="unit of --character (default: characters, i.e. utf-32)",
    )
    complete.add_argument("--language", default="", help="language id (default: from extension)")
    complete.add_argument("--json", action="store_true", help="print a JSON object")
    complete.add_argument(
        "--workspace",
        metavar="DIR",
        action="append",
        default=[],
        help="workspace folder whose files give repository context (repeatable)",
    )
    complete.add_argument(
        "--open",
        metavar="FILE",
        action="append",
        default=[],
        help="a file as if open in the editor, for repository context (repeatable)",
    )
    complete.add_argument(
        "--show-prompt", action="store_true", help="print the prompt sent to the engine too"
    )
    return complete


def run(args: argparse.Namespace) -> int:
    from safecoder_lsp.completion.service import CompletionError
    from safecoder_lsp.config import load_config
    from safecoder_lsp.documents import DocumentError, DocumentStore
    from safecoder_lsp.runtime import build_service

    result = load_config()
    cfg = result.config
    configure_logging("warning" if cfg.log.level == "info" else cfg.log.level, cfg.log.file)
    for problem in result.problems:
        print_warning(problem)
    try:
        uri, text = _read(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        print_error(f"cannot read {args.file}: {exc}")
        return 1
    language = args.language or language_of(args.file)
    doc = DocumentStore().open(uri, text, 0, language)
    try:
        offset = doc.offset_at(args.line, args.character, args.encoding)
    except DocumentError as exc:
        print_error(str(exc))
        return 1
    service = build_service(cfg)
    try:
        service.repo = repo_context(cfg, args.workspace, args.open)
    except (OSError, UnicodeDecodeError) as exc:
        print_error(f"cannot read a file given with --open: {exc}")
        return 1
    try:
        res = asyncio.run(service.complete(doc, offset, invoked=True))
    except CompletionError as exc:
        print_error(exc.message, exc.hint)
        return 1
    finally:
        service.worker.close()
    if args.json:
        print_json(as_json(res, args.show_prompt), ensure_ascii=False)
    else:
        if args.show_prompt:
            print_text(f"--- prompt ---\n{res.prompt}\n--- suggestion ---")
        print_text(res.text)
    return 0


def repo_context(cfg: Any, workspaces: list[str], opened: list[str]) -> RepoContext:
    """Repository context from the --workspace folders (read now) and --open files."""
    from safecoder_lsp.repo_context.provider import OpenDocument, RepoContext
    from safecoder_lsp.repo_context.workspace import WorkspaceFiles
    from safecoder_lsp.runtime import context_settings

    settings = context_settings(cfg)
    workspace = None
    if workspaces and settings.enabled and settings.max_files > 0:
        workspace = WorkspaceFiles([Path(w) for w in workspaces], settings.max_files)
        workspace.load()
    docs = []
    for file in opened:
        uri, text = _read(file)
        docs.append(OpenDocument(uri, language_of(file), text))
    return RepoContext(settings, lambda: docs, workspace)


def _read(file: str) -> tuple[str, str]:
    """(uri, text) of ``file``, or of standard input for ``-``."""
    if file == "-":
        return "untitled:stdin", sys.stdin.read()
    path = Path(file)
    text = path.read_text(encoding="utf-8")
    return path.resolve().as_uri(), text


def as_json(res: CompletionResult, prompt: bool = False) -> dict[str, Any]:
    """``complete --json``'s object (with the prompt when asked)."""
    st = res.stats
    out: dict[str, Any] = {
        "request_id": res.request_id,
        "text": res.text,
        "source": res.source,
        "mode": res.mode,
        "latency_ms": round(res.latency_ms, 1),
        "stats": None
        if st is None
        else {
            "prompt_tokens": st.prompt_tokens,
            "reused_tokens": st.reused_tokens,
            "generated_tokens": st.generated_tokens,
            "stop_reason": st.stop_reason.value if st.stop_reason else None,
        },
    }
    if prompt:
        out["prompt"] = res.prompt
    return out
