"""Fingerprinting many units at once: worker processes on this machine, or a Ray cluster.

``run_unit`` is the whole job for one unit (read, prepare, write its shard); the
drivers only decide where it runs. Units whose shard already exists are skipped, so
a job that failed or was stopped is finished by running it again. A unit that fails
(say, a damaged parquet file) does not stop the others: the failures are returned
and reported together.

On a cluster every node must see the corpus and the output folder at the same paths
(a shared filesystem), and have this package installed (or receive it through Ray's
runtime environment, which ``run_ray`` sets up).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from attribution import shards
from attribution.index import AttributionError, prepare
from attribution.normalize import Mode
from attribution.sources import Skipped
from attribution.units import Unit, documents


@dataclass(frozen=True)
class Settings:
    k: int
    w: int
    mode: Mode


@dataclass(frozen=True)
class Outcome:
    unit: Unit
    info: shards.ShardInfo | None  # None when it failed
    error: str = ""
    seconds: float = 0.0
    reused: bool = False  # the shard was there already


Progress = Callable[[Outcome, int, int], None]  # (outcome, finished, total)


def shard_path(out_dir: Path, unit: Unit) -> Path:
    return out_dir / shards.file_name(unit.source, unit.part, unit.parts)


def run_unit(unit: Unit, out_dir: str, settings: Settings) -> Outcome:
    """Fingerprint one unit into its shard in ``out_dir`` (or reuse the shard there)."""
    path = shard_path(Path(out_dir), unit)
    if path.is_file():
        try:
            info = shards.read_info(path)
        except AttributionError:
            info = None  # not ours or damaged: make it again
        if info is not None and (info.k, info.w, info.mode) == (
            settings.k,
            settings.w,
            settings.mode,
        ):
            return Outcome(unit, info, reused=True)
        path.unlink(missing_ok=True)  # made with other settings: make it again
    started = time.monotonic()
    skipped = Skipped()
    info = shards.ShardInfo(
        unit.source, unit.part, unit.parts, settings.k, settings.w, settings.mode
    )
    try:
        docs = (prepare(d, settings.k, settings.w, settings.mode) for d in documents(unit, skipped))
        done = shards.write(path, info, docs, skipped)
    except AttributionError as exc:
        return Outcome(unit, None, exc.message.rstrip("."), time.monotonic() - started)
    except (OSError, sqlite3.Error) as exc:
        return Outcome(unit, None, f"cannot write {path}: {exc}", time.monotonic() - started)
    return Outcome(unit, done, seconds=time.monotonic() - started)


def run_local(
    units: Sequence[Unit],
    out_dir: Path,
    settings: Settings,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Run the units in ``workers`` processes (default: one per core)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    outcomes: list[Outcome] = []
    if workers == 1:
        for unit in units:
            outcomes.append(run_unit(unit, str(out_dir), settings))
            if progress:
                progress(outcomes[-1], len(outcomes), len(units))
        return outcomes
    # spawn: a fork of a process with threads (the CLI's log writer) can deadlock
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        unit_of: dict[Future[Outcome], Unit] = {
            pool.submit(run_unit, unit, str(out_dir), settings): unit for unit in units
        }
        pending = set(unit_of)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker process died (BrokenProcessPool)
                    outcome = Outcome(unit_of[future], None, f"worker failed: {exc!r}")
                outcomes.append(outcome)
                if progress:
                    progress(outcome, len(outcomes), len(units))
    return outcomes


def run_ray(
    units: Sequence[Unit],
    out_dir: Path,
    settings: Settings,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Run the units as Ray tasks: on the cluster at ``address`` ("auto": the one this
    machine belongs to), or on a local Ray started here when it is None."""
    try:
        import ray
    except ImportError as exc:
        raise AttributionError(
            "the Ray build needs the ray package.", "pip install 'safecoder-lsp[ray]'"
        ) from exc
    import attribution

    # No telemetry: Ray's usage statistics stay off for the Ray this starts. A cluster
    # started with `ray start` needs RAY_USAGE_STATS_ENABLED=0 there (README).
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    out_dir.mkdir(parents=True, exist_ok=True)
    package = str(Path(attribution.__file__).parent)
    options = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        options["num_cpus"] = num_cpus or os.cpu_count() or 1
    try:
        ray.init(address=address, runtime_env={"py_modules": [package]}, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise AttributionError(
            f"cannot start or reach Ray at {address or 'this machine'}: {exc}.",
            "Check the address (ray start --head prints it), or leave --ray-address out "
            "for a local Ray.",
        ) from exc
    try:
        task = ray.remote(run_unit).options(max_retries=2, retry_exceptions=False)
        unit_of = {task.remote(unit, str(out_dir), settings): unit for unit in units}
        pending = list(unit_of)
        outcomes: list[Outcome] = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                outcome = ray.get(done[0])
            except Exception as exc:  # the task's worker died (after its retries)
                outcome = Outcome(unit_of[done[0]], None, f"Ray task failed: {exc!r}")
            outcomes.append(outcome)
            if progress:
                progress(outcome, len(outcomes), len(units))
        return outcomes
    finally:
        ray.shutdown()
