"""The ``safecoder-lsp`` command: serve, complete, doctor, model, attribution."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
from pathlib import Path

from safecoder_lsp import __version__


def _configure_logging(level: str, file: str = "", include_code: bool = False) -> None:
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [nonblocking(handler)]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # pygls logs whole messages (document text) at DEBUG: only with log.include_code.
    logging.getLogger("pygls").setLevel(
        logging.DEBUG if include_code and level == "debug" else logging.WARNING
    )


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands records to a writer thread; drops them when it is far behind.

    A client that never reads the server's stderr (pygls' own client pipes it and
    leaves it) would otherwise block the server in the middle of a request once the
    pipe is full: completions must not wait on the log.
    """

    def enqueue(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(record)


def nonblocking(handler: logging.Handler, capacity: int = 10_000) -> logging.Handler:
    """``handler`` behind a queue and a daemon writer thread.

    At exit the writer gets two seconds to flush: a stalled stderr must not keep the
    process from exiting either.
    """
    q: queue.Queue[logging.LogRecord | None] = queue.Queue(capacity)

    def write() -> None:
        while (record := q.get()) is not None:
            handler.handle(record)  # reports its own errors (logging.raiseExceptions)

    writer = threading.Thread(target=write, name="log-writer", daemon=True)
    writer.start()

    def flush_at_exit() -> None:
        with contextlib.suppress(queue.Full):
            q.put(None, timeout=1)
        writer.join(timeout=2)

    atexit.register(flush_at_exit)
    return _DroppingQueueHandler(q)


def print_error(message: str, hint: str = "") -> None:
    """A failed command's output: ``error: ...`` and, when known, ``  fix: ...``."""
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"  fix: {hint}", file=sys.stderr)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safecoder-lsp",
        description="Self-hosted code completion language server (LSP) with a local model.",
    )
    parser.add_argument("--version", action="version", version=f"safecoder-lsp {__version__}")
    # `safecoder-lsp --stdio`: how vscode-languageclient (llm-vscode) starts a server.
    parser.add_argument("--stdio", action="store_true", help="same as `serve --stdio`")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (default)")
    mode.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="listen on TCP")
    mode.add_argument("--ws", type=_host_port, metavar="HOST:PORT", help="listen on WebSocket")

    complete = sub.add_parser("complete", help="complete FILE at a position (same pipeline)")
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

    sub.add_parser("doctor", help="check configuration, model and engine")

    from safecoder_lsp import cli_model

    cli_model.add_parser(sub)
    from safecoder_lsp import cli_attribution

    cli_attribution.add_parser(sub)
    from safecoder_lsp import cli_endpoint

    cli_endpoint.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before the parser: building it imports the attribution code, which loads numpy.
    if _loads_a_model(sys.argv[1:] if argv is None else argv):
        from safecoder_lsp import native

        native.preload()
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        return _serve(args)
    if command == "complete":
        return _complete(args)
    if command == "doctor":
        from safecoder_lsp.doctor import run_doctor

        return run_doctor()
    if command == "model":
        from safecoder_lsp import cli_model

        return cli_model.run(args)
    if command == "attribution":
        from safecoder_lsp import cli_attribution

        return cli_attribution.run(args)
    if command == "endpoint":
        from safecoder_lsp import cli_endpoint

        return cli_endpoint.run(args)
    parser.error(f"unknown command {command}")
    return 2


COMMANDS = ("serve", "complete", "doctor", "model", "attribution", "endpoint")


def _loads_a_model(argv: list[str]) -> bool:
    """Will this command line load the local model (see safecoder_lsp.native)? Read
    from the words alone: a wrong guess only costs the early load or skips it."""
    words = [w for w in argv if not w.startswith("-")]
    command = next((w for w in words if w in COMMANDS), "serve")
    if command == "endpoint":
        return "serve" in words[words.index("endpoint") + 1 :]
    if command not in ("serve", "complete", "doctor"):
        return False
    from safecoder_lsp.config import load_config
    from safecoder_lsp.native import uses_local_model

    try:
        return uses_local_model(load_config().config)
    except Exception:  # the command itself reports a configuration it cannot use
        return False


def _serve(args: argparse.Namespace) -> int:
    from safecoder_lsp.config import load_config
    from safecoder_lsp.lsp.app import create_server

    cfg = load_config().config
    _configure_logging(cfg.log.level, cfg.log.file, cfg.log.include_code)
    server = create_server()
    tcp = getattr(args, "tcp", None)
    ws = getattr(args, "ws", None)
    if tcp:
        server.start_tcp(*tcp)
    elif ws:
        try:
            import websockets  # noqa: F401
        except ImportError:
            print(
                "error: --ws needs the websockets package.\n  fix: pip install 'pygls[ws]'",
                file=sys.stderr,
            )
            return 1
        server.start_ws(*ws)
    else:
        # The LSP stream owns the real stdout; anything else that prints (native
        # libraries included) goes to stderr instead of corrupting the protocol.
        lsp_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr
        server.start_io(sys.stdin.buffer, lsp_out)
    return 0


LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".java": "java",
    ".kt": "kotlin",
    ".rb": "ruby",
    ".php": "php",
    ".cs": "csharp",
    ".lua": "lua",
    ".sh": "shellscript",
    ".sql": "sql",
    ".swift": "swift",
    ".scala": "scala",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".md": "markdown",
    ".html": "html",
    ".css": "css",
}


def language_of(path: str) -> str:
    return LANGUAGES.get(Path(path).suffix.lower(), "")


def _complete(args: argparse.Namespace) -> int:
    from safecoder_lsp.completion.service import CompletionError
    from safecoder_lsp.config import load_config
    from safecoder_lsp.documents import DocumentError, DocumentStore
    from safecoder_lsp.runtime import build_service

    result = load_config()
    cfg = result.config
    _configure_logging("warning" if cfg.log.level == "info" else cfg.log.level, cfg.log.file)
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    try:
        if args.file == "-":
            text = sys.stdin.read()
            uri = "untitled:stdin"
        else:
            path = Path(args.file)
            text = path.read_text(encoding="utf-8")
            uri = path.resolve().as_uri()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    language = args.language or language_of(args.file)
    doc = DocumentStore().open(uri, text, 0, language)
    try:
        offset = doc.offset_at(args.line, args.character, args.encoding)
    except DocumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    service = build_service(cfg)
    try:
        res = asyncio.run(service.complete(doc, offset, invoked=True))
    except CompletionError as exc:
        print_error(exc.message, exc.hint)
        return 1
    finally:
        service.worker.close()
    if args.json:
        st = res.stats
        print(
            json.dumps(
                {
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
                },
                ensure_ascii=False,
            )
        )
    else:
        sys.stdout.write(res.text + ("\n" if res.text and not res.text.endswith("\n") else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
