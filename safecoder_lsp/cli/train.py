"""``safecoder-lsp train prepare``: argparse glue over training/ (the optional
``train`` extra; imported only when the command runs, so the server never loads it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safecoder_lsp.cli.output import print_error

DEFAULT_FORM = "lora"  # see `train export --as`: the better held-out figures (bench/RESULTS.md)
EXTRA_HINT = "install the training extra: pip install 'safecoder-lsp[train]'"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    top = subparsers.add_parser(
        "train",
        help="build your own model from your code (dataset, fine-tuning)",
        description="Your own model, on your machines: prepare a dataset from your "
        "repositories. Needs the training extra (pip install 'safecoder-lsp[train]').",
    )
    sub = top.add_subparsers(dest="train_command", metavar="COMMAND")
    prep = sub.add_parser(
        "prepare",
        help="select, deduplicate, de-identify and split code into a dataset folder",
        description="Read REPOs (git repositories at HEAD, or plain folders), keep the "
        "code files, remove exact and near duplicates, replace secrets and personal "
        "data by placeholders, hold out files for evaluation, and write DIR "
        "(train.parquet, heldout.parquet, card.json, CARD.md).",
    )
    prep.add_argument("repos", nargs="+", metavar="REPO", type=Path)
    prep.add_argument("--out", required=True, type=Path, metavar="DIR")
    prep.add_argument("--language", action="append", default=None, metavar="ID",
                      help="keep only this language (repeatable; default: all code languages)")
    prep.add_argument("--include", action="append", default=[], metavar="GLOB",
                      help="keep only paths matching GLOB (repeatable)")
    prep.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                      help="leave out paths matching GLOB (repeatable)")
    prep.add_argument("--max-bytes", type=int, default=1_000_000,
                      help="leave out larger files (default 1000000)")
    prep.add_argument("--heldout", type=float, default=0.1, metavar="FRACTION",
                      help="share of files held out for evaluation (default 0.1)")
    prep.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    _add_run(sub)
    _add_export(sub)
    _add_eval(sub)
    top.set_defaults(train_parser=top)
    return top


def _add_run(sub: argparse._SubParsersAction) -> None:
    run_ = sub.add_parser(
        "run",
        help="fine-tune a base model on a prepared dataset (LoRA); resumes by itself",
        description="LoRA fine-tuning of --base (a .gguf file or a transformers checkpoint "
        "folder; default: the default model) on DATASET's training split, with the base's "
        "own fill-in-the-middle tokens. Checkpoints go to OUT/checkpoints; run the same "
        "command again after an interruption and it continues from the newest one. The "
        "adapter lands in OUT/adapter, the record of the run in OUT/run.json.",
    )
    run_.add_argument("dataset", type=Path, metavar="DATASET")
    run_.add_argument("--out", required=True, type=Path, metavar="DIR")
    run_.add_argument("--base", type=Path, default=None, metavar="MODEL")
    run_.add_argument("--stop-after", type=int, default=0, metavar="STEP",
                      help="stop at STEP (checkpoint and adapter written, on the schedule of "
                      "--max-steps) to evaluate part-way; run again without it to go on")
    for flag, kind, default, text in RUN_OPTIONS:
        run_.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")


def _add_export(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export",
        help="merge a run's adapter into its base and write a quantized GGUF",
        description="Merge RUN's adapter (a `train run` output folder) into the base it "
        "was trained on, convert with llama.cpp's own converter (fetched once from the "
        "package index: the llama-cpp-python sources), quantize, and register the file "
        "in the model store with its sha256 and a record of base, dataset and settings. "
        "Serve it with model.path = the printed path.",
    )
    export.add_argument("run", type=Path, metavar="RUN")
    export.add_argument("--out", type=Path, default=None, metavar="FILE.gguf",
                        help="default: RUN's name in the model store")
    export.add_argument("--quantize", default="q4_k_m", metavar="TYPE",
                        help="q4_k_m (default, as the default model), q5_k_m, q8_0 or f16")
    export.add_argument("--as", dest="form", default=DEFAULT_FORM, choices=("merged", "lora"),
                        help="merged: one GGUF for model.path; lora: the adapter as a GGUF "
                        "LoRA for model.lora_path, applied to the unchanged base at load "
                        f"(default {DEFAULT_FORM}: the better held-out exact match, "
                        "bench/RESULTS.md)")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "eval",
        help="measure the tuned model against its base on the held-out files",
        description="Before/after on DATASET's held-out files: single-line infilling exact "
        "match (the repository benchmark's tasks and scores), held-out loss and perplexity, "
        "and HumanEval single-line infilling pass@1 as the forgetting check; one table. "
        "MODEL is a run folder of `train run` (its adapter applied as a GGUF LoRA) or a "
        "GGUF from `train export`; more MODELs add columns (e.g. the merged export).",
    )
    ev.add_argument("models", nargs="+", type=Path, metavar="MODEL")
    ev.add_argument("--dataset", required=True, type=Path, metavar="DIR")
    ev.add_argument("--base", type=Path, default=None, metavar="GGUF",
                    help="the base to compare with (default: the one the run recorded)")
    ev.add_argument("--tasks-per-kind", type=int, default=50, metavar="N",
                    help="held-out tasks of each kind (whole line, rest of a line) per "
                    "repository (default 50)")
    ev.add_argument("--humaneval", type=int, default=200, metavar="N",
                    help="HumanEval single-line tasks, spread over the 1,033 (0: none; "
                    "default 200)")
    ev.add_argument("--loss-tokens", type=int, default=8192, metavar="N",
                    help="held-out tokens the loss is measured on (default 8192)")
    ev.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    ev.add_argument("--out", type=Path, default=None, metavar="FILE.json",
                    help="write the report there too")


RUN_OPTIONS = (
    ("--max-steps", int, 200, "optimizer steps"),
    ("--seq-len", int, 512, "tokens per training sequence"),
    ("--batch-size", int, 1, "sequences per micro-batch"),
    ("--grad-accum", int, 4, "micro-batches per step"),
    ("--lr", float, 2e-4, "peak learning rate"),
    ("--lora-r", int, 16, "LoRA rank"),
    ("--save-every", int, 20, "steps between checkpoints"),
    ("--fim-rate", float, 0.5, "share of documents made fill-in-the-middle examples"),
    ("--spm-rate", float, 0.5, "share of those in suffix-prefix-middle order"),
    ("--seed", int, 0, "seed of everything random"),
    ("--threads", int, 0, "CPU threads (0: all cores)"),
)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "train_command", None) is None:
        args.train_parser.print_help(sys.stderr)
        return 2
    try:
        from training.errors import TrainingError

        return _RUNNERS[args.train_command](args)
    except ImportError as exc:
        print_error(f"the training pipeline is not installed ({exc.name} is missing)", EXTRA_HINT)
        return 1
    except TrainingError as exc:
        print_error(str(exc))
        return 1


def _prepare(args: argparse.Namespace) -> int:
    from training.prepare import prepare
    from training.prepare.settings import CODE_LANGUAGES, PrepareSettings

    settings = PrepareSettings(
        languages=tuple(args.language or CODE_LANGUAGES), include=tuple(args.include),
        exclude=tuple(args.exclude), max_bytes=args.max_bytes,
        heldout_fraction=args.heldout, seed=args.seed,
    )
    card = prepare(args.repos, args.out, settings, log=_log)
    print(f"{args.out} (version {card['version']})")
    return 0


def _run(args: argparse.Namespace) -> int:
    from engine.models import default_model_path
    from training.run.fim import FimSettings
    from training.run.loop import ADAPTER, train
    from training.run.settings import RunSettings

    settings = RunSettings(
        max_steps=args.max_steps, seq_len=args.seq_len, batch_size=args.batch_size,
        grad_accum=args.grad_accum, learning_rate=args.lr, lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r, save_every=args.save_every, seed=args.seed,
        threads=args.threads, fim=FimSettings(args.fim_rate, args.spm_rate),
    )
    base = args.base or default_model_path()
    record = train(args.dataset, base, args.out, settings, progress=_show_progress,
                   stop_after=args.stop_after)
    print(f"{args.out / ADAPTER} (final loss {record['final_loss']})")
    return 0


def _show_progress(p) -> None:
    left = (p.max_steps - p.step) * p.seconds / max(1, p.step - p.resumed_from)
    saved = f"  checkpoint {Path(p.checkpoint).name}" if p.checkpoint else ""
    _log(f"step {p.step}/{p.max_steps}  loss {p.loss:.3f}  {p.tokens_per_s:.0f} tokens/s  "
         f"eta {int(left // 60)}m{int(left % 60):02d}s{saved}")


def _export(args: argparse.Namespace) -> int:
    from training.export.export import export, export_lora
    from training.export.quantize import check_type

    check_type(args.quantize.lower())  # a typo is an error whichever the form
    if args.form == "lora":
        result = export_lora(args.run, args.out, log=_log)
        _log(f"serve it with model.path = {result['base']} and model.lora_path = "
             f"{result['path']}")
    else:
        result = export(args.run, args.out, args.quantize.lower(), log=_log)
        _log(f"serve it with model.path = {result['path']}")
    print(result["path"])
    return 0


def _eval(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate

    report = evaluate(
        args.models, args.dataset, args.base, per_kind=args.tasks_per_kind,
        humaneval=args.humaneval, loss_tokens=args.loss_tokens, threads=args.threads,
        out=args.out, log=_log,
    )
    print("\n".join(report["table"]))
    return 0


_RUNNERS = {"prepare": _prepare, "run": _run, "export": _export, "eval": _eval}


def _log(line: str) -> None:
    print(line, file=sys.stderr)
