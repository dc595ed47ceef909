"""Run the language server with an audit hook that records every network call.

Usage: python audited_server.py AUDIT_FILE [CLI args...] (default: serve --stdio; any
command works, e.g. attribution build). Each socket.connect, socket.getaddrinfo,
socket.sendto/sendmsg, socket.bind and urllib.Request the process makes is appended
to AUDIT_FILE as a JSON line, before the call happens, and so is each child process
it starts (subprocess.Popen, os.system, os.posix_spawn, os.spawn, os.exec, os.fork:
a child is outside the hook). The privacy tests read it to prove where code could
have gone.
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
# a child process is not audited: that one was started is recorded (no environment)
PROCESSES = {"subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.exec", "os.fork"}


def main() -> int:
    path = sys.argv[1]
    out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process

    def hook(event: str, args: tuple) -> None:
        if event not in EVENTS and event not in PROCESSES:
            return
        if event in PROCESSES:
            detail = [str(a) for a in args[:2]]
        elif event == "socket.getaddrinfo":
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
