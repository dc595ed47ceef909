"""``safecoder-lsp attribution build | check | stats``: argparse glue over attribution/."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from attribution.index import AttributionError, Index, SourceDocument
from attribution.policy import Policy
from attribution.sources import Skipped, directory, python_distributions, stack_parquet

SITE_PACKAGES = "site-packages"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    top = subparsers.add_parser(
        "attribution",
        help="build and query the open-source attribution index",
        description="Build and query the index suggestions are checked against.",
    )
    sub = top.add_subparsers(dest="attribution_command", metavar="COMMAND")
    index_help = "the index file (default: attribution.index from the configuration)"
    build = sub.add_parser(
        "build",
        help="add sources to the index (a source added again is replaced)",
        description="Index SOURCEs: directories or git checkouts (license from LICENSE/"
        f"COPYING files and SPDX headers, repo from the git remote), The Stack .parquet "
        f"files (v1 or v2 schema), or '{SITE_PACKAGES}' for the installed Python packages "
        "(license from their metadata).",
    )
    build.add_argument("sources", nargs="+", metavar="SOURCE")
    build.add_argument("--index", default=None, help=index_help)
    build.add_argument(
        "--mode",
        choices=["whitespace", "identifiers"],
        default="whitespace",
        help="normalization of a new index (identifiers: renamed copies match too)",
    )
    check = sub.add_parser(
        "check", help="match a file against the index and apply the license policy"
    )
    check.add_argument("file", metavar="FILE", help="the file, or - for standard input")
    check.add_argument("--index", default=None, help=index_help)
    check.add_argument("--json", action="store_true", help="print JSON")
    stats = sub.add_parser("stats", help="what the index holds")
    stats.add_argument("--index", default=None, help=index_help)
    top.set_defaults(attribution_parser=top)
    return top


def run(args: argparse.Namespace) -> int:
    """Run ``args.attribution_command``; errors print ``error:``/``fix:`` and return 1."""
    try:
        return _run(args)
    except AttributionError as exc:
        from safecoder_lsp.cli import print_error

        print_error(exc.message, exc.hint)
        return 1


def _run(args: argparse.Namespace) -> int:
    command = getattr(args, "attribution_command", None)
    if command is None:
        args.attribution_parser.print_help(sys.stderr)
        return 2
    from safecoder_lsp.config import load_config

    cfg = load_config().config.attribution
    path = args.index or cfg.index
    if not path:
        raise AttributionError(
            "no index given.", "Pass --index PATH or set attribution.index in the configuration."
        )
    if command != "build" and not Path(path).is_file():
        raise AttributionError(
            f"the index {path} does not exist.",
            "Build it with `safecoder-lsp attribution build SOURCE... --index PATH`.",
        )
    if command == "build":
        return _build(path, args.sources, args.mode)
    policy = Policy(tuple(cfg.allowed_licenses), cfg.action, cfg.unknown_license)  # type: ignore[arg-type]
    with Index(path) as index:
        if command == "stats":
            for key, value in index.stats().items():
                print(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")
            return 0
        return _check(index, policy, args.file, args.json)


def _documents(source: str, skipped: Skipped) -> Iterator[SourceDocument]:
    if source == SITE_PACKAGES:
        yield from python_distributions(skipped)
        return
    if source.endswith(".parquet"):
        yield from stack_parquet(source, skipped)
        return
    try:
        yield from directory(source, skipped)
    except FileNotFoundError as exc:
        raise AttributionError(
            f"{exc}.", f"Give a directory, a git checkout, or '{SITE_PACKAGES}'."
        ) from exc


def _build(path: str, sources: list[str], mode: str) -> int:
    with Index(path, mode=mode) as index:  # type: ignore[arg-type]
        for source in sources:
            name = source if source == SITE_PACKAGES else str(Path(source).resolve())
            skipped = Skipped()
            started = time.monotonic()
            count = index.add_source(name, _progress(_documents(source, skipped), name))
            took = time.monotonic() - started
            print(
                f"{name}: {count:,} files in {took:.1f} s; skipped {skipped.binary} binary, "
                f"{skipped.too_big} too big, {len(skipped.unreadable)} unreadable",
                file=sys.stderr,
            )
            for line in skipped.unreadable[:10]:
                print(f"  unreadable: {line}", file=sys.stderr)
        stats = index.stats()
    print(
        f"{path}: {stats['documents']:,} files, {stats['corpus_bytes']:,} bytes of source, "
        f"index {stats['index_bytes']:,} bytes"
    )
    return 0


def _progress(docs: Iterable[SourceDocument], name: str) -> Iterator[SourceDocument]:
    tty = sys.stderr.isatty()
    size = 0
    last = 0.0
    for count, doc in enumerate(docs, start=1):
        size += len(doc.text)
        now = time.monotonic()
        if now - last > (0.2 if tty else 5.0):
            end = "\r" if tty else "\n"
            print(f"{name}: {count:,} files, {size / 1e6:.1f} MB", end=end, file=sys.stderr)
            last = now
        yield doc
    if tty:
        print(file=sys.stderr)


def _check(index: Index, policy: Policy, file: str, as_json: bool) -> int:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AttributionError(f"cannot read {file}: {exc}.", "Give a readable text file.") from exc
    matches = index.query(text)
    verdict = policy.judge(matches)
    if as_json:
        out = {
            "decision": verdict.decision,
            "matches": [
                {**r.match.__dict__, "allowed": r.allowed, "why": r.why} for r in verdict.references
            ],
        }
        print(json.dumps(out, indent=2))
    else:
        for r in verdict.references:
            m = r.match
            lines = text.count("\n", 0, m.start) + 1, text.count("\n", 0, m.end) + 1
            print(
                f"lines {lines[0]}-{lines[1]} match {m.repo} {m.path}:{m.start_line}-"
                f"{m.end_line} ({m.length} chars), license {m.license or 'unknown'}: {r.why}"
            )
        print(f"decision: {verdict.decision}" + ("" if matches else " (no matches)"))
    return 3 if verdict.blocked else 0
