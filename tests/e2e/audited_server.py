"""Run the language server with an audit hook that records every network call.

Usage: python audited_server.py AUDIT_FILE [serve args...]. Each socket.connect,
socket.getaddrinfo, socket.sendto/sendmsg and socket.bind the server process makes
is appended to AUDIT_FILE as a JSON line, before the call happens. The privacy
tests read it to prove where code could have gone.
"""

from __future__ import annotations

import json
import sys

EVENTS = {
    "socket.connect",
    "socket.getaddrinfo",
    "socket.sendto",
    "socket.sendmsg",
    "socket.bind",
    "urllib.Request",
}


def main() -> int:
    path = sys.argv[1]
    out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process

    def hook(event: str, args: tuple) -> None:
        if event not in EVENTS:
            return
        if event == "socket.getaddrinfo":
            detail = [str(args[0]), str(args[1])]
        elif event == "urllib.Request":
            detail = [str(args[0])]
        else:
            address = args[1] if len(args) > 1 else None
            detail = [str(a) for a in address] if isinstance(address, tuple) else [str(address)]
        out.write(json.dumps({"event": event, "args": detail}) + "\n")

    sys.addaudithook(hook)
    from safecoder_lsp.cli import main as cli_main

    return cli_main(sys.argv[2:] or ["serve", "--stdio"])


if __name__ == "__main__":
    raise SystemExit(main())
