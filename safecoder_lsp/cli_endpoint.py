"""``safecoder-lsp endpoint serve | token add | token list | token revoke``.

argparse glue over safecoder_lsp.endpoint: check everything a start needs (tokens,
TLS files, the index, the model, the port) with a clear error for each, then serve
until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from engine.base import EngineError, EngineInfo
from safecoder_lsp.config import Config
from safecoder_lsp.endpoint import tokens as token_file
from safecoder_lsp.endpoint.backend import Backend

if TYPE_CHECKING:
    from safecoder_lsp.endpoint.server import Endpoint

log = logging.getLogger(__name__)

DEFAULT_PORT = 8088


def _at_least(low: int):
    """An argparse type: a whole number >= ``low``."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"expected at least {low}, got {n}")
        return n

    return parse


_positive = _at_least(1)
_not_negative = _at_least(0)


def _tokens_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tokens",
        metavar="FILE",
        default=None,
        help=f"the API tokens file (default: {token_file.default_path()})",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``endpoint`` and its sub-commands (chosen one in ``endpoint_command``)."""
    endpoint = subparsers.add_parser(
        "endpoint",
        help="serve the model over HTTP to a team (OpenAI-compatible completions)",
        description="The team endpoint: the embedded model served over HTTP to the "
        "safecoder-lsp clients of a team (POST /v1/completions), with API tokens.",
    )
    sub = endpoint.add_subparsers(dest="endpoint_command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the endpoint",
        description="Serve the configured model (model.path, engine.n_ctx, n_threads, "
        "n_gpu_layers) at http(s)://HOST:PORT/v1/completions.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    _tokens_option(serve)
    serve.add_argument(
        "--no-auth", action="store_true", help="serve without tokens (every caller is anonymous)"
    )
    serve.add_argument(
        "--rate-limit",
        type=_not_negative,
        default=120,
        metavar="N",
        help="completions per minute per token, 0 = no limit (120)",
    )
    serve.add_argument(
        "--rate-burst",
        type=_positive,
        default=None,
        metavar="N",
        help="completions a token may send at once (default: N/6, at least 1)",
    )
    serve.add_argument(
        "--max-request-bytes",
        type=_positive,
        default=1 << 20,
        metavar="N",
        help="largest request body (1 MiB)",
    )
    serve.add_argument(
        "--max-tokens", type=_positive, default=256, metavar="N", help="max_tokens cap (256)"
    )
    serve.add_argument(
        "--queue-limit",
        type=_positive,
        default=64,
        metavar="N",
        help="requests that may wait; more are answered 503 (64)",
    )
    serve.add_argument(
        "--slots",
        type=_positive,
        default=16,
        metavar="N",
        help="requests generated at once, each slot keeping its own prompt cache: about "
        "the developers typing at the same time (16; 1 = one after the other on the "
        "plain engine)",
    )
    serve.add_argument(
        "--step-tokens",
        type=int,
        default=0,
        metavar="N",
        help="experimental, GPU only: decode exactly N tokens every step (padded) so the "
        "GPU can replay one captured graph; more than --slots (0 = off)",
    )
    serve.add_argument(
        "--weights",
        choices=("auto", "original", "16bit"),
        default="auto",
        help="16bit: the model's Q5_0/Q8_0 matrices stored as 16-bit floats (a copy made "
        "once in the model directory, ~2x the file) for llama.cpp's CPU kernels that "
        "batch well; auto (the default) uses it on a CPU with AVX512 when the model "
        "is not offloaded to a GPU",
    )
    serve.add_argument("--tls-cert", metavar="FILE", default="", help="serve HTTPS: PEM cert")
    serve.add_argument("--tls-key", metavar="FILE", default="", help="its PEM private key")
    serve.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        default="",
        help="require client certificates signed by this CA (mutual TLS)",
    )
    serve.add_argument(
        "--index",
        metavar="PATH",
        default="",
        help="attribution index for generated text (default: attribution.index)",
    )
    token = sub.add_parser("token", help="add, list and revoke API tokens")
    tsub = token.add_subparsers(dest="token_command", metavar="COMMAND")
    add = tsub.add_parser("add", help="make a token and print it (once)")
    add.add_argument("name", help="who it is for (letters, digits, . _ @ -)")
    _tokens_option(add)
    listing = tsub.add_parser("list", help="list token names and dates")
    _tokens_option(listing)
    revoke = tsub.add_parser("revoke", help="revoke a token (a running endpoint refuses it)")
    revoke.add_argument("name")
    _tokens_option(revoke)
    endpoint.set_defaults(endpoint_parser=endpoint)
    token.set_defaults(token_parser=token)
    return endpoint


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "endpoint_command", None)
    if command == "serve":
        return serve(args)
    if command == "token":
        return _token(args)
    args.endpoint_parser.print_help(sys.stderr)
    return 2


# -- tokens ---------------------------------------------------------------------------
def _token(args: argparse.Namespace) -> int:
    from safecoder_lsp.cli import print_error

    path = Path(args.tokens).expanduser() if args.tokens else token_file.default_path()
    command = getattr(args, "token_command", None)
    try:
        if command == "add":
            secret = token_file.add(path, args.name)
            print(secret)
            print(
                f"Added token {args.name!r} to {path}. It is shown only this once: give it to "
                "its user, who saves it in a file and sets engine.api_token_file to that file.",
                file=sys.stderr,
            )
            return 0
        if command == "list":
            entries = token_file.read_entries(path)
            if not entries:
                print(f"no tokens in {path}", file=sys.stderr)
                return 0
            width = max(len(e.name) for e in entries)
            for e in entries:
                print(f"{e.name:<{width}}  created {e.created or '?'}")
            return 0
        if command == "revoke":
            token_file.revoke(path, args.name)
            print(f"revoked {args.name!r}; a running endpoint refuses it from its next request.")
            return 0
    except token_file.TokenError as exc:
        print_error(exc.message, exc.hint)
        return 1
    except OSError as exc:
        print_error(f"cannot write {path}: {exc}.", "Check the directory's permissions.")
        return 1
    args.token_parser.print_help(sys.stderr)
    return 2


# -- serve ----------------------------------------------------------------------------
def make_backend(
    config: Config, slots: int, step_tokens: int = 0, weights: str = "original"
) -> Backend:
    """The batched engine for ``slots`` > 1, else SerialBackend (one at a time).

    Raises EngineError (with a hint) when the model cannot be loaded.
    """
    from safecoder_lsp.endpoint.serial import SerialBackend
    from safecoder_lsp.runtime import engine_factory, template_override

    backend: Backend | None = None
    if slots > 1:
        from engine.batched import BatchedEngine
        from engine.models import resolve_model_path

        e = config.engine
        path, label = weights_for(resolve_model_path(config.model.path), weights, config, slots)
        backend = BatchedEngine(
            path,
            slots=slots,
            n_ctx=e.n_ctx,
            n_threads=e.n_threads,
            n_batch=e.n_batch,
            n_gpu_layers=e.n_gpu_layers,
            step_tokens=step_tokens,
            weights=label,
        )
    elif weights == "16bit":
        print("warning: --weights 16bit is for batched decoding; --slots 1 keeps the "
              "original weights.", file=sys.stderr)  # fmt: skip
    if backend is None:
        backend = SerialBackend(engine_factory(config.with_values({"engine.kind": "llamacpp"})))
    override = template_override(config)
    if override is not None:
        backend.fim_template = override
    return backend


def weights_for(
    model: Path, requested: str, config: Config, slots: int, system_info: str | None = None
) -> tuple[Path, str]:
    """The file the batched engine loads for ``--weights requested`` and how to name it.
    auto falls back to the original file (with a warning) when the 16-bit copy cannot
    be made; an explicit 16bit raises the EngineError. ``system_info``: llama.cpp's
    description of this build and CPU (asked when not given)."""
    from engine import relayout
    from engine.gguf import read_metadata
    from engine.models import model_dir

    if system_info is None:
        import llama_cpp  # loaded already (safecoder_lsp.native) by a model-loading command

        system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    meta = read_metadata(model)
    layout, why = relayout.choose(
        requested,
        n_gpu_layers=config.engine.n_gpu_layers,
        slots=slots,
        system_info=system_info,
        meta=meta,
    )
    if layout == relayout.ORIGINAL:
        print(f"weights: original ({why})", file=sys.stderr)
        return model, relayout.ORIGINAL
    if requested == relayout.AUTO:
        print(
            f"weights: 16-bit matrices ({why}); --weights original keeps the file's",
            file=sys.stderr,
        )
    try:
        derived = relayout.ensure_derived(model, model_dir(), meta)
    except EngineError as exc:
        if requested != relayout.AUTO:
            raise
        print(f"warning: {exc.message} Serving the original weights.", file=sys.stderr)
        return model, relayout.ORIGINAL
    made = (
        f"made in {derived.made_s:.1f} s and kept for later starts"
        if derived.made_s is not None
        else "made at an earlier start"
    )
    print(
        f"weights: {derived.converted} matrices as 16-bit floats from {model.name}: "
        f"{derived.path} ({made})",
        file=sys.stderr,
    )
    return derived.path, f"{relayout.SIXTEEN_BIT} (from {model})"


def unused_gpu(info: EngineInfo, config: Config) -> str | None:
    """A warning when the build could offload to a GPU but the model stays on the CPU
    (a team endpoint on a GPU machine without engine.n_gpu_layers set)."""
    if info.details.get("gpu_offload") != "True" or config.engine.n_gpu_layers != 0:
        return None
    return (
        "this llama-cpp-python build can offload to a GPU, but engine.n_gpu_layers = 0 "
        "keeps the model on the CPU; set SAFECODER_ENGINE_N_GPU_LAYERS=-1 (all layers)."
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    from attribution.index import AttributionError
    from safecoder_lsp.cli import _configure_logging, print_error
    from safecoder_lsp.config import load_config
    from safecoder_lsp.endpoint.judge import Judge
    from safecoder_lsp.endpoint.ratelimit import RateLimiter
    from safecoder_lsp.endpoint.server import Endpoint, EndpointServer, Limits
    from safecoder_lsp.endpoint.tls import TlsError, server_context

    loaded = load_config()
    config = loaded.config
    _configure_logging(config.log.level, config.log.file, config.log.include_code)
    for problem in loaded.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.index:
        config = config.with_values({"attribution.index": args.index})

    # 1. tokens
    store = None
    if args.no_auth:
        print(
            "warning: --no-auth: anyone who can reach this address can use the endpoint.",
            file=sys.stderr,
        )
    else:
        path = Path(args.tokens).expanduser() if args.tokens else token_file.default_path()
        store = token_file.TokenStore(path)
        if store.problem:
            print_error(store.problem, "Fix or remove the file, then add tokens.")
            return 1
        if not store.names():
            print_error(
                f"no API tokens in {path}: nobody could use the endpoint.",
                "Add one per user with `safecoder-lsp endpoint token add NAME"
                + (f" --tokens {args.tokens}" if args.tokens else "")
                + "`, or pass --no-auth to serve without tokens (trusted networks only).",
            )
            return 1

    # 2. TLS
    tls = None
    if (args.tls_key or args.tls_client_ca) and not args.tls_cert:
        print_error(
            "--tls-key and --tls-client-ca need --tls-cert.",
            "Pass the server certificate with --tls-cert FILE.",
        )
        return 1
    if args.tls_cert:
        try:
            tls = server_context(args.tls_cert, args.tls_key, args.tls_client_ca)
        except TlsError as exc:
            print_error(exc.message, exc.hint)
            return 1

    # 3. attribution
    judge = None
    try:
        judge = Judge.open(config)
    except AttributionError as exc:
        print_error(exc.message, exc.hint)
        return 1
    if args.index and judge is None:
        print(
            "warning: --index is ignored: attribution.action is off.",
            file=sys.stderr,
        )

    # 4. the model
    started = time.monotonic()
    try:
        backend = make_backend(config, args.slots, args.step_tokens, args.weights)
    except EngineError as exc:
        print_error(exc.message, exc.hint)
        if judge is not None:
            judge.close()
        return 1
    info = backend.info()
    log.info("model %s loaded in %.2f s", info.model, time.monotonic() - started)
    unused = unused_gpu(info, config)
    if unused:
        print(f"warning: {unused}", file=sys.stderr)

    # 5. the port
    limiter = RateLimiter(args.rate_limit, args.rate_burst)
    limits = Limits(args.max_request_bytes, args.max_tokens, args.queue_limit)
    endpoint = Endpoint(
        backend,
        store,
        limiter,
        limits,
        judge=judge,
        include_code=config.log.include_code,
        model_id=_model_file(config) or "",
    )
    try:
        server = EndpointServer((args.host, args.port), endpoint, tls)
    except OSError as exc:
        print_error(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.",
            "Pick another --port, or stop what uses it.",
        )
        endpoint.close()
        backend.close()
        return 1
    _print_banner(server.url, endpoint, args, time.monotonic() - started, backend)

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        print("shutting down", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        endpoint.close()
        backend.close()
    return 0


def _model_file(config: Config) -> str:
    try:
        from engine.models import resolve_model_path

        return Path(resolve_model_path(config.model.path)).name
    except (EngineError, OSError):
        return ""


def _print_banner(
    url: str, endpoint: Endpoint, args: argparse.Namespace, load_s: float, backend: Backend
) -> None:
    kind = type(backend).__name__
    auth = "no auth" if endpoint.tokens is None else f"tokens from {endpoint.tokens.path}"
    lines = [
        f"safecoder endpoint: {endpoint.model_id} at {url}/v1/completions "
        f"({kind}, model ready in {load_s:.1f} s; {auth})",
        f"limits: {endpoint.limiter.describe() if endpoint.limiter.enabled else 'no rate limit'}; "
        f"max_tokens <= {endpoint.limits.max_tokens}; {endpoint.limits.queue_limit} may wait",
    ]
    if endpoint.judge is not None:
        lines.append(
            f"attribution: {endpoint.judge.index} (action {endpoint.judge.action}); "
            "streams are sent once the whole text is judged"
        )
    lines += [
        "",
        "Each client sets, in its safecoder config.toml (or SAFECODER_ENGINE_* variables):",
        "  [engine]",
        '  kind = "openai"',
        f'  url = "{url}"',
    ]
    if endpoint.tokens is not None:
        lines.append('  api_token_file = "~/.config/safecoder/endpoint.token"  # its token')
    if args.tls_cert:
        lines.append('  ca_bundle = "/path/to/ca.pem"  # if the certificate is not public')
    if args.tls_client_ca:
        lines.append('  client_cert = "/path/to/client.pem"  # signed by --tls-client-ca')
    if args.host in ("127.0.0.1", "localhost", "::1"):
        lines.append(f"(listening on {args.host} only: use --host 0.0.0.0 to serve the team)")
    print("\n".join(lines), flush=True)
