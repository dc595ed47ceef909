"""What every command shares for its output: ``error:``/``fix:`` and ``warning:`` lines
on stderr, JSON or plain text on stdout, and the log set up so that it never blocks.

Imports nothing heavy: every command's module uses it, before and after
safecoder_lsp.native decided what loads first.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import logging.handlers
import queue
import sys
import threading
from typing import Any


def print_error(message: str, hint: str = "") -> None:
    """A failed command's output: ``error: ...`` and, when known, ``  fix: ...``."""
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"  fix: {hint}", file=sys.stderr)


def print_warning(message: object) -> None:
    """``warning: ...`` on stderr (a configuration problem, an option that is ignored)."""
    print(f"warning: {message}", file=sys.stderr)


def print_json(value: Any, *, indent: int | None = None, ensure_ascii: bool = True) -> None:
    """``value`` as one JSON document on stdout."""
    print(json.dumps(value, indent=indent, ensure_ascii=ensure_ascii))


def print_text(text: str) -> None:
    """``text`` on stdout as it is, ended by a newline unless empty or already ended."""
    sys.stdout.write(text + ("\n" if text and not text.endswith("\n") else ""))


def configure_logging(level: str, file: str = "", include_code: bool = False) -> None:
    """The root logger to ``file`` (or stderr) at ``level``, through a queue that never
    blocks the caller (see ``nonblocking``)."""
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
