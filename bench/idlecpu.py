"""The server's CPU use while the user is idle, after some typing.

The real server over stdio opens ``textwrap.py`` (standard library), the user types
``--chars`` characters at the start of ``textwrap.dedent``'s body with an automatic
inline request after each, then stops. The server's CPU seconds (user + system,
its threads included, from /proc/PID/stat) are read when typing ends plus a settle
time (``--settle``: the warm-ups a pause starts, and answers still running, end)
and again ``--idle`` seconds later.

Reported: CPU seconds and percent of one core during the idle window, and during
the settle window. Linux only.
Usage: python -m bench.idlecpu [--chars N] [--idle S] [--settle S] [--out ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from bench.latency import line_col, typing_session
from bench.lspclient import BenchClient


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


async def run(chars: int, idle: float, settle: float) -> dict:
    doc_text, offset, typed = typing_session(chars)
    client = BenchClient()
    await client.start()
    pid = client.client._server.pid  # type: ignore[union-attr]
    uri = "file:///bench/textwrap.py"
    try:
        client.open(uri, doc_text)
        while (await client.stats())["engine_state"] == "loading":
            await asyncio.sleep(0.1)
        text = doc_text
        for i, ch in enumerate(typed):
            pos = offset + i
            line, col = line_col(text, pos)
            text = text[:pos] + ch + text[pos:]
            client.insert(uri, line, col, ch)
            await client.inline(uri, *line_col(text, pos + 1))
        typed_at = cpu_seconds(pid)
        await asyncio.sleep(settle)
        start, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(idle)
        end, wall = cpu_seconds(pid), time.monotonic() - t0
        stats = await client.stats()
    finally:
        await client.stop()
    return {
        "typed_chars": len(typed),
        "settle_s": settle,
        "settle_cpu_s": start - typed_at,
        "idle_s": wall,
        "idle_cpu_s": end - start,
        "idle_cpu_percent": 100 * (end - start) / wall,
        "warm_jobs": stats.get("warm_jobs"),
        "warm_started": stats.get("warm_started"),
        "warm_preempted": stats.get("warm_preempted"),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=40)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--out", default="bench/out/idlecpu.json")
    args = parser.parse_args()
    report = asyncio.run(run(args.chars, args.idle, args.settle))
    for k, v in report.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}", file=sys.stdout)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
