"""``safecoder-lsp serve [--stdio | --tcp HOST:PORT | --ws HOST:PORT]``: the language server."""

from __future__ import annotations

import argparse
import os
import sys

from safecoder_lsp.cli.output import configure_logging, print_error


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    serve = subparsers.add_parser("serve", help="run the language server (stdio by default)")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (default)")
    mode.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="listen on TCP")
    mode.add_argument("--ws", type=_host_port, metavar="HOST:PORT", help="listen on WebSocket")
    return serve


def run(args: argparse.Namespace) -> int:
    """Serve until the client ends the session. Also what ``safecoder-lsp`` with no
    command (or ``--stdio`` alone) runs: then ``args`` has no ``tcp`` or ``ws``."""
    from safecoder_lsp.config import load_config
    from safecoder_lsp.lsp.app import create_server

    cfg = load_config().config
    configure_logging(cfg.log.level, cfg.log.file, cfg.log.include_code)
    server = create_server()
    tcp = getattr(args, "tcp", None)
    ws = getattr(args, "ws", None)
    if tcp:
        server.start_tcp(*tcp)
    elif ws:
        try:
            import websockets  # noqa: F401
        except ImportError:
            print_error("--ws needs the websockets package.", "pip install 'pygls[ws]'")
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
