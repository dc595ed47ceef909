"""Attribution index at scale (issue 4): build speed, size, latency, recall, false matches.

1. Corpus: the pinned wheels of ``bench.corpus`` (about 586 MB of real source code
   from PyPI, one source per wheel), fetched once into ``--corpus-dir``.
2. Build: a fresh SQLite index (``<corpus-dir>/index.sqlite`` unless ``--index``)
   built from every wheel, timed: corpus MB/s and index bytes / corpus bytes.
3. Recall: ``--plants`` copies of indexed code (a random file, a span of 150-400
   characters that starts at a line start and normalizes to at least 150 characters)
   set between novel code (random identifiers, found nowhere), queried as the server
   does: 300 characters before the suggestion + the suggestion (span + novel tail). A
   hit is a match naming the planted file whose span overlaps the planted span.
4. False matches: ``--novel`` suggestion-sized queries (300 characters of context +
   a 100-400 character suggestion) from code not in the index: the held-out wheels
   (which can share genuine boilerplate, e.g. license headers, with the corpus) and
   this project's own source. Any match is counted; those reaching into the
   suggestion (what the server would attribute) too.
5. Latency: every query above, timed with perf_counter.

Writes bench/out/attribution.json and prints a markdown table.
Usage: python -m bench.attribution [--quick] [--size-mb N] [--corpus-dir DIR]
       [--index PATH] [--plants N] [--novel N] [--seed N] [--out PATH]
(--quick: four small wheels, about 1 MB, and 200 queries of each kind)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import string
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from attribution.index import MAX_VERIFIED_DOCS, Index, Match, SourceDocument
from attribution.normalize import Mode, normalize
from attribution.sources import Skipped, directory, read_text
from bench import corpus

OUT = Path("bench/out/attribution.json")
ROOT = Path(__file__).resolve().parents[1]
OWN_SOURCE = ("safecoder_lsp", "engine", "attribution", "tests", "bench")
CONTEXT_CHARS = 300  # the prefix tail the server queries with (completion/attribution.py)
MIN_NORMALIZED = 150  # the fingerprint guarantee
TARGET_P95_MS = 10.0
TARGET_RECALL = 0.99
TARGET_FALSE_RATE = 0.001
MB = 1e6


# -- pure helpers -------------------------------------------------------------------------
def line_starts(text: str) -> list[int]:
    """Offsets where the lines of ``text`` begin."""
    return [0] + [i + 1 for i, c in enumerate(text) if c == "\n" and i + 1 < len(text)]


def plant_span(
    text: str,
    rng: random.Random,
    mode: Mode = "whitespace",
    min_normalized: int = MIN_NORMALIZED,
    min_chars: int = 150,
    max_chars: int = 400,
    tries: int = 20,
) -> tuple[int, int] | None:
    """A span ``text[a:b]`` of ``min_chars``-``max_chars`` characters starting at a line
    start whose normalized text has at least ``min_normalized`` characters, or None."""
    starts = [s for s in line_starts(text) if len(text) - s >= min_chars]
    if not starts:
        return None
    for _ in range(tries):
        a = rng.choice(starts)
        b = min(len(text), a + rng.randint(min_chars, max_chars))
        if len(normalize(text[a:b], mode).text) >= min_normalized:
            return a, b
    return None


_ALNUM = string.ascii_lowercase + string.digits


def novel_identifier(rng: random.Random) -> str:
    """A random identifier (8-12 characters): in no corpus."""
    return rng.choice(string.ascii_lowercase) + "".join(rng.choices(_ALNUM, k=rng.randint(7, 11)))


_TEMPLATES = (
    "{a} = {b}({c}, {n})",
    "if {a} > {n}:\n    {b}.{c}({a})",
    "def {a}({b}, {c}={n}):\n    return {b} * {c} - {n}",
    "for {a} in {b}.{c}():\n    {d} += {a}",
    '{a}[{n}] = "{b}-{c}"',
    "with {a}({b}) as {c}:\n    {d} = {c}.{a}({n})",
)


def novel_code(rng: random.Random, chars: int) -> str:
    """Python-like lines of random identifiers, at least ``chars`` characters (whole
    lines, ending with a newline; "" for 0), the same for the same ``rng`` state."""
    lines: list[str] = []
    size = 0
    while size < chars:
        names = {k: novel_identifier(rng) for k in "abcd"}
        line = rng.choice(_TEMPLATES).format(n=rng.randint(0, 99999), **names) + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)


def context_query(
    text: str,
    rng: random.Random,
    context: int = CONTEXT_CHARS,
    min_chars: int = 100,
    max_chars: int = 400,
) -> tuple[str, str] | None:
    """(prefix tail, suggestion): a cursor at a random line start, up to ``context``
    characters before it and ``min_chars``-``max_chars`` after it; None if too short."""
    starts = [s for s in line_starts(text) if len(text) - s >= min_chars]
    if not starts:
        return None
    c = rng.choice(starts)
    return text[max(0, c - context) : c], text[c : c + rng.randint(min_chars, max_chars)]


def pct(values: Sequence[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else float("nan")


def latency_summary(ms: Sequence[float]) -> dict[str, float | int]:
    if not ms:
        return {"queries": 0}
    return {
        "queries": len(ms),
        "p50": pct(ms, 0.50),
        "p95": pct(ms, 0.95),
        "p99": pct(ms, 0.99),
        "max": max(ms),
        "mean": sum(ms) / len(ms),
        "over_10ms": sum(m > TARGET_P95_MS for m in ms),
    }


MATCH_BUCKETS = ((0, 0), (1, 10), (11, 100), (101, None))


@dataclass
class Timings:
    """Each query's time (ms) and how many matches it returned."""

    ms: list[float] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)

    def by_matches(self) -> dict[str, dict[str, float | int]]:
        """Latency by how many matches a query returned (verifying each costs time)."""
        out = {}
        for low, high in MATCH_BUCKETS:
            ms = [
                t
                for t, n in zip(self.ms, self.matches, strict=True)
                if n >= low and (high is None or n <= high)
            ]
            label = f"{low}" if low == high else f"{low}+" if high is None else f"{low}-{high}"
            out[label] = latency_summary(ms)
        return out


# -- the benchmark --------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexedFile:
    repo: str
    path: str
    file: Path
    license: str


def _capped(
    docs: Iterator[SourceDocument], root: Path, files: list[IndexedFile], budget: list[int]
) -> Iterator[SourceDocument]:
    """``docs`` while ``budget[0]`` bytes remain, recording each one in ``files``."""
    for doc in docs:
        if budget[0] <= 0:
            return
        budget[0] -= len(doc.text.encode("utf-8", "surrogatepass"))
        files.append(IndexedFile(doc.repo, doc.path, root / doc.path, doc.license))
        yield doc


def build(
    wheels: Sequence[corpus.Wheel], cache: Path, index_path: Path, size_mb: float | None
) -> tuple[dict, list[IndexedFile]]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index_path}{suffix}").unlink(missing_ok=True)
    index_path.parent.mkdir(parents=True, exist_ok=True)
    budget = [int(size_mb * MB) if size_mb else 1 << 62]
    files: list[IndexedFile] = []
    skipped = Skipped()
    sources = []
    fetch_s = build_s = 0.0
    with Index(index_path) as index:
        for wheel in wheels:
            if budget[0] <= 0:
                break
            t0 = time.perf_counter()
            root = corpus.fetch(wheel, cache)
            fetch_s += time.perf_counter() - t0
            lic, origin = corpus.wheel_license(root)
            before, left = len(files), budget[0]
            print(f"indexing {wheel.repo} ({lic or 'unknown license'})", file=sys.stderr)
            t0 = time.perf_counter()
            docs = _capped(corpus.documents(wheel, root, skipped), root, files, budget)
            count = index.add_source(wheel.repo, docs)
            build_s += time.perf_counter() - t0
            assert count == len(files) - before
            sources.append(
                {
                    "repo": wheel.repo,
                    "wheel": corpus.wheel_file(root),
                    "license": lic,
                    "license_from": origin,
                    "documents": count,
                    "mb": round((left - budget[0]) / MB, 2),
                }
            )
        stats = index.stats()
    # closing checkpoints the WAL into the file: what is left is the index
    index_bytes = sum(
        Path(f"{index_path}{s}").stat().st_size
        for s in ("", "-wal", "-shm")
        if Path(f"{index_path}{s}").exists()
    )
    corpus_bytes = int(stats["corpus_bytes"])
    info = {
        "index": str(index_path),
        "sources": sources,
        "documents": stats["documents"],
        "corpus_bytes": corpus_bytes,
        "corpus_mb": corpus_bytes / MB,
        "fingerprints": stats["fingerprints"],
        "index_bytes": index_bytes,
        "index_mb": index_bytes / MB,
        "index_to_corpus": index_bytes / corpus_bytes if corpus_bytes else float("nan"),
        "build_seconds": build_s,
        "build_mb_per_s": corpus_bytes / MB / build_s if build_s else float("nan"),
        "fetch_seconds": fetch_s,
        "skipped": {
            "binary": skipped.binary,
            "too_big": skipped.too_big,
            "unreadable": len(skipped.unreadable),
        },
        "k": stats["k"],
        "w": stats["w"],
        "mode": stats["mode"],
        "guarantee": stats["guarantee"],
    }
    return info, files


def _timed(index: Index, text: str, timings: Timings) -> list[Match]:
    t0 = time.perf_counter()
    matches = index.query(text)
    timings.ms.append((time.perf_counter() - t0) * 1000)
    timings.matches.append(len(matches))
    return matches


def _brief(m: Match) -> dict:
    return {
        "repo": m.repo,
        "path": m.path,
        "lines": [m.start_line, m.end_line],
        "length": m.length,
    }


def recall(
    index: Index, files: Sequence[IndexedFile], n: int, rng: random.Random, timings: Timings
) -> dict:
    mode: Mode = index.mode  # type: ignore[assignment]
    hits = named = 0
    only_elsewhere = 0
    match_counts: list[int] = []
    misses: list[dict] = []
    for _ in range(n):
        while True:
            f = rng.choice(files)
            text = read_text(f.file, Skipped())
            span = plant_span(text, rng, mode) if text else None
            if text and span:
                break
        a, b = span
        planted = text[a:b]
        prefix = novel_code(rng, CONTEXT_CHARS)
        query = prefix + planted + novel_code(rng, rng.randint(0, 100))
        start, end = len(prefix), len(prefix) + len(planted)
        matches = _timed(index, query, timings)
        match_counts.append(len(matches))
        over = [m for m in matches if m.start < end and m.end > start]
        named += any(m.repo == f.repo and m.path == f.path for m in over)
        # found: the planted text is reported, under the planted file's license (so the
        # policy's verdict is right), from the planted file or another copy of the text
        if any(m.license == f.license for m in over):
            hits += 1
            continue
        only_elsewhere += bool(matches)
        misses.append(
            {
                "repo": f.repo,
                "path": f.path,
                "offsets": [a, b],
                "line": text.count("\n", 0, a) + 1,
                "normalized_length": len(normalize(planted, mode).text),
                "text": planted[:200],
                "matches": [_brief(m) for m in matches[:3]],
            }
        )
    return {
        "planted": n,
        "hits": hits,
        "recall": hits / n if n else float("nan"),
        "planted_file_named": named,
        "missed": len(misses),
        "missed_with_other_matches": only_elsewhere,
        "misses": misses[:10],
        "matches_per_query_mean": sum(match_counts) / n if n else float("nan"),
        "matches_per_query_max": max(match_counts, default=0),
    }


def false_matches(
    index: Index,
    docs: Sequence[SourceDocument],
    n: int,
    rng: random.Random,
    timings: Timings,
) -> dict:
    usable = [d for d in docs if len(d.text) >= 100]
    queried = with_match = in_suggestion = 0
    examples: list[dict] = []
    for _ in range(n if usable else 0):
        doc = rng.choice(usable)
        q = context_query(doc.text, rng)
        if q is None:
            continue
        head, suggestion = q
        matches = _timed(index, head + suggestion, timings)
        queried += 1
        if not matches:
            continue
        with_match += 1
        in_suggestion += any(m.end > len(head) for m in matches)
        if len(examples) < 5:
            m = matches[0]
            examples.append(
                {
                    "query_file": f"{doc.repo}/{doc.path}" if doc.repo else doc.path,
                    "matched_text": (head + suggestion)[m.start : m.end][:300],
                    "match": _brief(m),
                    "in_suggestion": m.end > len(head),
                }
            )
    return {
        "files": len(usable),
        "queries": queried,
        "with_match": with_match,
        "rate": with_match / queried if queried else float("nan"),
        "reaching_suggestion": in_suggestion,
        "rate_reaching_suggestion": in_suggestion / queried if queried else float("nan"),
        "examples": examples,
    }


def held_out_documents(wheels: Sequence[corpus.Wheel], cache: Path) -> list[SourceDocument]:
    out: list[SourceDocument] = []
    for wheel in wheels:
        out.extend(corpus.documents(wheel, corpus.fetch(wheel, cache), Skipped()))
    return out


def own_documents(root: Path = ROOT) -> list[SourceDocument]:
    out: list[SourceDocument] = []
    for sub in OWN_SOURCE:
        for doc in directory(root / sub, Skipped()):
            out.append(SourceDocument("", f"{sub}/{doc.path}", doc.license, doc.text))
    return out


def provenance() -> dict[str, str]:
    """The commit, and a digest of the index code measured (it changes in working trees)."""
    digest = hashlib.sha256()
    for name in ("index.py", "fingerprint.py", "normalize.py"):
        digest.update((ROOT / "attribution" / name).read_bytes())
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "--", "attribution"], cwd=ROOT, check=False
        ).returncode
        rev += " (attribution/ modified)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return {"commit": rev, "index_code_sha256": digest.hexdigest()[:16]}


def run(args: argparse.Namespace) -> dict:
    t_start = time.perf_counter()
    code = provenance()
    wheels = corpus.QUICK if args.quick else corpus.FULL
    held = corpus.QUICK_HELD_OUT if args.quick else corpus.HELD_OUT
    plants = args.plants if args.plants is not None else (200 if args.quick else 1000)
    novel = args.novel if args.novel is not None else (200 if args.quick else 1000)
    cache: Path = args.corpus_dir
    default_index = cache / ("index-quick.sqlite" if args.quick else "index.sqlite")
    index_path: Path = args.index or default_index

    info, files = build(wheels, cache, index_path, args.size_mb)
    held_docs = held_out_documents(held, cache)
    own_docs = own_documents()

    planted, novel_t = Timings(), Timings()
    with Index(index_path) as index:
        rec = recall(index, files, plants, random.Random(f"{args.seed}:plant"), planted)
        held_fm = false_matches(
            index, held_docs, novel, random.Random(f"{args.seed}:held"), novel_t
        )
        own_fm = false_matches(index, own_docs, novel, random.Random(f"{args.seed}:own"), novel_t)
    held_fm["sources"] = [w.repo for w in held]
    held_fm["note"] = (
        "published code: it can share genuine boilerplate with the corpus (license "
        "headers, vendored or generated code); inspect the examples"
    )
    own_fm["sources"] = [f"{s}/" for s in OWN_SOURCE]
    everything = Timings(planted.ms + novel_t.ms, planted.matches + novel_t.matches)
    lat = {
        "all": latency_summary(everything.ms),
        "planted": latency_summary(planted.ms),
        "novel": latency_summary(novel_t.ms),
        "by_matches_returned": everything.by_matches(),
    }
    return {
        "quick": args.quick,
        **code,
        "seed": args.seed,
        "size_cap_mb": args.size_mb,
        "corpus_dir": str(cache),
        "build": info,
        "recall": rec,
        "false_matches": {"held_out_wheels": held_fm, "own_source": own_fm},
        "latency_ms": lat,
        "targets": {
            "p95_ms": TARGET_P95_MS,
            "recall": TARGET_RECALL,
            "false_match_rate": TARGET_FALSE_RATE,
        },
        "meets": {
            "p95": lat["all"]["p95"] < TARGET_P95_MS,
            "recall": rec["recall"] >= TARGET_RECALL,
            "false_matches_own_source": own_fm["rate"] < TARGET_FALSE_RATE,
            "false_matches_held_out_wheels": held_fm["rate"] < TARGET_FALSE_RATE,
            "corpus_500mb": info["corpus_mb"] >= 500,
        },
        "wall_seconds": time.perf_counter() - t_start,
    }


def summary_rows(result: dict) -> list[str]:
    """Markdown lines for bench/RESULTS.md (bench/run_all.py's summary)."""
    b, r, lat = result["build"], result["recall"], result["latency_ms"]["all"]
    fm = result["false_matches"]
    held, own = fm["held_out_wheels"], fm["own_source"]
    planted, novel = result["latency_ms"]["planted"], result["latency_ms"]["novel"]
    rows = [
        f"Attribution index: {b['corpus_mb']:.0f} MB of source ({b['documents']} files from "
        f"{len(b['sources'])} PyPI wheels), k={b['k']}, w={b['w']}, {b['mode']}"
        + (" (quick run: a small corpus)" if result.get("quick") else "")
        + ":",
        "",
        "| build MB/s | index / corpus | query p50 ms | p95 ms | p99 ms | max ms "
        "| recall (planted) | false matches: own source | held-out wheels |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {b['build_mb_per_s']:.1f} | {b['index_to_corpus']:.2f} | {lat['p50']:.1f} "
        f"| {lat['p95']:.1f} | {lat['p99']:.1f} | {lat['max']:.0f} "
        f"| {r['recall']:.3f} ({r['hits']}/{r['planted']}) "
        f"| {own['rate']:.4f} ({own['with_match']}/{own['queries']}) "
        f"| {held['rate']:.4f} ({held['with_match']}/{held['queries']}) |",
        "",
        f"- build {b['build_seconds']:.0f} s for {b['corpus_mb']:.0f} MB; index "
        f"{b['index_mb']:.0f} MB, {b['fingerprints']} fingerprints",
        f"- latency: code not in the index p50 {novel['p50']:.1f} / p95 {novel['p95']:.1f} ms; "
        f"planted copies p50 {planted['p50']:.1f} / p95 {planted['p95']:.1f} ms, "
        f"{r['matches_per_query_mean']:.0f} matches per planted query on average "
        f"(max {r['matches_per_query_max']}: code repeated across files)",
        f"- recall counts a planted copy found when a match covers it under the planted "
        f"file's license (the policy verdict is right); the planted file itself was named "
        f"in {r.get('planted_file_named', '?')} of {r['planted']} (text repeated in many "
        f"files is reported against up to {MAX_VERIFIED_DOCS} of them, each license "
        f"represented)",
        f"- targets: p95 < {TARGET_P95_MS:g} ms, recall >= {TARGET_RECALL:g}, false matches "
        f"< {TARGET_FALSE_RATE:g}; matches reaching into the suggestion (what the server "
        f"reports): own source {own['reaching_suggestion']}, held-out wheels "
        f"{held['reaching_suggestion']} (published code can share genuine boilerplate)",
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 MB corpus, 200 queries each")
    parser.add_argument("--size-mb", type=float, default=None, help="cap the indexed corpus")
    parser.add_argument("--corpus-dir", type=Path, default=corpus.default_cache())
    parser.add_argument("--index", type=Path, default=None, help="default: in --corpus-dir")
    parser.add_argument("--plants", type=int, default=None, help="planted copies (1000)")
    parser.add_argument("--novel", type=int, default=None, help="queries per held-out set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print("\n".join(summary_rows(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
