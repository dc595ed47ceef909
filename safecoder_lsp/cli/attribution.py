"""``safecoder-lsp attribution build | shard | merge | check | stats``: argparse glue
over attribution/."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from attribution import shards
from attribution.index import AttributionError, Index, SourceDocument
from attribution.parallel import Outcome, Settings, run_local, run_ray, shard_path
from attribution.policy import Policy
from attribution.sources import Skipped
from attribution.units import SITE_PACKAGES, Unit, documents, plan
from safecoder_lsp.cli.output import print_error, print_json


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
    _mode_and_workers(build)
    shard = sub.add_parser(
        "shard",
        help="fingerprint sources into shard files (worker processes or a Ray cluster)",
        description="Fingerprint SOURCEs (as for build) into shard files in --out, one per "
        "work unit (a directory, 64 MB of parquet row groups, an installed distribution); "
        "`attribution merge` adds them to an index. Units whose shard exists are skipped: "
        "run it again to finish a job that failed or was stopped.",
    )
    shard.add_argument("sources", nargs="+", metavar="SOURCE")
    shard.add_argument("--out", required=True, help="the folder the shards are written to")
    _mode_and_workers(shard)
    shard.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the units as Ray tasks: on a local Ray (no ADDRESS), or on the cluster at "
        "ADDRESS ('auto' for the one this machine is part of)",
    )
    merge = sub.add_parser(
        "merge", help="add shard files to the index (each source they hold is replaced)"
    )
    merge.add_argument("shards", nargs="+", metavar="SHARDS", help="shard files or folders")
    merge.add_argument("--index", default=None, help=index_help)
    check = sub.add_parser(
        "check", help="match a file against the index and apply the license policy"
    )
    check.add_argument("file", metavar="FILE", help="the file, or - for standard input")
    check.add_argument("--index", default=None, help=index_help)
    check.add_argument("--json", action="store_true", help="print JSON")
    log = sub.add_parser(
        "log", help="the reference log: accepted suggestions that matched indexed code"
    )
    log.add_argument("-n", type=int, default=20, help="how many of the latest entries")
    log.add_argument("--json", action="store_true", help="print the JSON lines")
    stats = sub.add_parser("stats", help="what the index holds")
    stats.add_argument("--index", default=None, help=index_help)
    top.set_defaults(attribution_parser=top)
    return top


def _mode_and_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=["whitespace", "identifiers"],
        default="whitespace",
        help="normalization of a new index (identifiers: renamed copies match too)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes fingerprinting in parallel (default: one per core)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``args.attribution_command``; errors print ``error:``/``fix:`` and return 1."""
    try:
        return _run(args)
    except AttributionError as exc:
        print_error(exc.message, exc.hint)
        return 1


def _run(args: argparse.Namespace) -> int:
    command = getattr(args, "attribution_command", None)
    if command is None:
        args.attribution_parser.print_help(sys.stderr)
        return 2
    if command == "shard":
        return _shard(args)
    if command == "log":
        return _log(args.n, args.json)
    from safecoder_lsp.config import load_config

    cfg = load_config().config.attribution
    path = args.index or cfg.index
    if not path:
        raise AttributionError(
            "no index given.", "Pass --index PATH or set attribution.index in the configuration."
        )
    if command in ("build", "merge"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if command == "build":
            return _build(path, args.sources, args.mode, args.workers)
        return _merge(path, args.shards)
    # check, stats: an index that does not exist is an error of Index(create=False)
    policy = Policy(tuple(cfg.allowed_licenses), cfg.action, cfg.unknown_license)  # type: ignore[arg-type]
    with Index(path, create=False) as index:
        if command == "stats":
            for key, value in index.stats().items():
                print(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")
            return 0
        return _check(index, policy, args.file, args.json)


def _build(path: str, sources: list[str], mode: str, workers: int) -> int:
    units = plan(sources)
    with Index(path, mode=mode) as index:  # type: ignore[arg-type]
        if (workers or os.cpu_count() or 1) > 1 and len(units) > 1:
            _build_parallel(index, units, workers)
        else:
            _build_serial(index, units)
        stats = index.stats()
    print(
        f"{path}: {stats['documents']:,} files, {stats['corpus_bytes']:,} bytes of source, "
        f"index {stats['index_bytes']:,} bytes"
    )
    return 0


def _build_serial(index: Index, units: list[Unit]) -> None:
    for name in dict.fromkeys(u.source for u in units):
        mine = [u for u in units if u.source == name]
        skipped = Skipped()
        started = time.monotonic()
        docs: Iterator[SourceDocument] = (d for u in mine for d in documents(u, skipped))
        count = index.add_source(name, _progress(docs, name))
        print(
            f"{name}: {count:,} files in {time.monotonic() - started:.1f} s; skipped "
            f"{skipped.binary} binary, {skipped.too_big} too big, "
            f"{len(skipped.unreadable)} unreadable",
            file=sys.stderr,
        )
        for line in skipped.unreadable[:10]:
            print(f"  unreadable: {line}", file=sys.stderr)


def _build_parallel(index: Index, units: list[Unit], workers: int) -> None:
    """Shards in a folder beside the index, merged, then deleted. After a failure the
    folder stays, so the same command again redoes only the failed units."""
    settings = Settings(index.k, index.w, index.mode)  # type: ignore[arg-type]
    folder = index.path.with_name(index.path.name + ".shards")
    outcomes = run_local(units, folder, settings, workers or None, _report)
    _raise_failures(outcomes)
    mine = [shard_path(folder, o.unit) for o in outcomes]
    shards.merge(index, mine, _merged)
    shutil.rmtree(folder, ignore_errors=True)


def _shard(args: argparse.Namespace) -> int:
    from attribution.fingerprint import K, W

    units = plan(args.sources)
    settings = Settings(K, W, args.mode)
    out = Path(args.out)
    started = time.monotonic()
    if args.ray is not None:
        address = None if args.ray == "local" else args.ray
        outcomes = run_ray(units, out, settings, address, args.workers or None, _report)
    else:
        outcomes = run_local(units, out, settings, args.workers or None, _report)
    _raise_failures(outcomes)
    size = sum(o.info.bytes for o in outcomes if o.info)
    print(
        f"{out}: {len(outcomes):,} shards, {size / 1e6:,.1f} MB of source in "
        f"{time.monotonic() - started:.1f} s; add them with `safecoder-lsp attribution "
        f"merge {out} --index PATH`"
    )
    return 0


def _merge(path: str, given: list[str]) -> int:
    found = shards.find(given)
    first = shards.read_info(found[0])
    with Index(path, k=first.k, w=first.w, mode=first.mode) as index:  # type: ignore[arg-type]
        shards.merge(index, found, _merged)
        stats = index.stats()
    print(
        f"{path}: {stats['documents']:,} files, {stats['corpus_bytes']:,} bytes of source, "
        f"index {stats['index_bytes']:,} bytes"
    )
    return 0


def _log(count: int, as_json: bool) -> int:
    from safecoder_lsp import references

    entries = references.read_log(limit=max(0, count))
    if not entries:
        print(f"no accepted suggestions with references in {references.log_path()}")
        return 0
    for entry in entries:
        if as_json:
            print_json(entry)
            continue
        print(f"{entry.get('time', '?')} {entry.get('uri', '?')} ({entry.get('request_id', '?')})")
        for m in entry.get("matches", []):
            lines = f"{m.get('start_line')}-{m.get('end_line')}"
            verdict = "allowed" if m.get("allowed") else "NOT in the allowlist"
            print(
                f"  {m.get('repo')} {m.get('path')}:{lines} ({m.get('length')} chars), "
                f"license {m.get('license') or 'unknown'}: {verdict}"
            )
    return 0


def _report(outcome: Outcome, finished: int, total: int) -> None:
    head = f"[{finished}/{total}] {outcome.unit.describe()}"
    if outcome.info is None:
        print(f"{head}: failed: {outcome.error}", file=sys.stderr)
    elif outcome.reused:
        print(f"{head}: shard already there", file=sys.stderr)
    else:
        info = outcome.info
        print(
            f"{head}: {info.documents:,} files, {info.bytes / 1e6:.1f} MB in "
            f"{outcome.seconds:.1f} s (skipped {info.binary} binary, {info.too_big} too big, "
            f"{info.unreadable} unreadable)",
            file=sys.stderr,
        )


def _merged(source: str, count: int) -> None:
    print(f"merged {source}: {count:,} files", file=sys.stderr)


def _raise_failures(outcomes: list[Outcome]) -> None:
    failed = [o for o in outcomes if o.info is None]
    if failed:
        lines = "; ".join(f"{o.unit.describe()}: {o.error.rstrip('.')}" for o in failed[:5])
        raise AttributionError(
            f"{len(failed)} of {len(outcomes)} units failed: {lines}.",
            "Fix the cause and run the same command again: finished shards are kept and "
            "only the failed units run.",
        )


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
        print_json(out, indent=2)
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
