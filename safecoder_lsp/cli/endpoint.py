"""``safecoder-lsp endpoint serve | token add | token list | token revoke``.

argparse glue over safecoder_lsp.endpoint: check everything a start needs (tokens,
TLS files, the index, the model, the port) with a clear error for each, then serve
until Ctrl-C or SIGTERM. Which backend serves is safecoder_lsp.endpoint.backends'.
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

from engine.base import EngineError
from safecoder_lsp.cli.output import configure_logging, print_error, print_warning
from safecoder_lsp.config import Config
from safecoder_lsp.endpoint import tokens as token_file
from safecoder_lsp.endpoint.backend import Backend

if TYPE_CHECKING:
    import ssl

    from safecoder_lsp.endpoint.judge import Judge
    from safecoder_lsp.endpoint.server import Endpoint, EndpointServer

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


# -- the parser -----------------------------------------------------------------------
def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``endpoint`` and its sub-commands (chosen one in ``endpoint_command``)."""
    endpoint = subparsers.add_parser(
        "endpoint",
        help="serve the model over HTTP to a team (OpenAI-compatible completions)",
        description="The team endpoint: the embedded model served over HTTP to the "
        "safecoder-lsp clients of a team (POST /v1/completions), with API tokens.",
    )
    sub = endpoint.add_subparsers(dest="endpoint_command", metavar="COMMAND")
    _add_serve(sub)
    token = _add_token(sub)
    endpoint.set_defaults(endpoint_parser=endpoint)
    token.set_defaults(token_parser=token)
    return endpoint


def _tokens_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tokens",
        metavar="FILE",
        default=None,
        help=f"the API tokens file (default: {token_file.default_path()})",
    )


def _add_serve(sub: argparse._SubParsersAction) -> None:
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
    _limit_options(serve)
    _engine_options(serve)
    _tls_options(serve)
    serve.add_argument(
        "--index",
        metavar="PATH",
        default="",
        help="attribution index for generated text (default: attribution.index)",
    )


def _limit_options(serve: argparse.ArgumentParser) -> None:
    def number(option: str, check, default: int | None, text: str) -> None:
        serve.add_argument(option, type=check, default=default, metavar="N", help=text)

    number(
        "--rate-limit", _not_negative, 120, "completions per minute per token, 0 = no limit (120)"
    )
    number(
        "--rate-burst",
        _positive,
        None,
        "completions a token may send at once (default: N/6, at least 1)",
    )
    number("--max-request-bytes", _positive, 1 << 20, "largest request body (1 MiB)")
    number("--max-tokens", _positive, 256, "max_tokens cap (256)")
    number("--queue-limit", _positive, 64, "requests that may wait; more are answered 503 (64)")


def _engine_options(serve: argparse.ArgumentParser) -> None:
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


def _tls_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--tls-cert", metavar="FILE", default="", help="serve HTTPS: PEM cert")
    serve.add_argument("--tls-key", metavar="FILE", default="", help="its PEM private key")
    serve.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        default="",
        help="require client certificates signed by this CA (mutual TLS)",
    )


def _add_token(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
    return token


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
    command = getattr(args, "token_command", None)
    if command is None:  # `endpoint token` alone: its subcommands, not a traceback
        args.token_parser.print_help(sys.stderr)
        return 2
    path = Path(args.tokens).expanduser() if args.tokens else token_file.default_path()
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
            return _list_tokens(path)
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


def _list_tokens(path: Path) -> int:
    entries = token_file.read_entries(path)
    if not entries:
        print(f"no tokens in {path}", file=sys.stderr)
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  created {e.created or '?'}")
    return 0


# -- serve ----------------------------------------------------------------------------
class _Refused(Exception):
    """A start that cannot work, with the way out."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    """Check tokens, TLS, attribution, the model and the port in that order (the first
    that fails is reported and ends the start with 1), then serve until stopped."""
    from attribution.index import AttributionError
    from safecoder_lsp.endpoint.server import EndpointServer
    from safecoder_lsp.endpoint.tls import TlsError

    config = _configuration(args)
    judge = None
    try:
        store = _token_store(args)
        tls = _tls_context(args)
        judge = _open_judge(config, args)
        started = time.monotonic()
        backend = _load_model(config, args, started)
    except (_Refused, TlsError, AttributionError, EngineError) as exc:
        print_error(exc.message, exc.hint)
        if judge is not None:
            judge.close()
        return 1
    endpoint = _endpoint(config, args, backend, store, judge)
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
    _serve_until_stopped(server, endpoint, backend)
    return 0


def _configuration(args: argparse.Namespace) -> Config:
    """The configuration in force (its problems warned about, the log set up), with
    ``--index`` applied."""
    from safecoder_lsp.config import load_config

    loaded = load_config()
    config = loaded.config
    configure_logging(config.log.level, config.log.file, config.log.include_code)
    for problem in loaded.problems:
        print_warning(problem)
    if args.index:
        config = config.with_values({"attribution.index": args.index})
    return config


def _token_store(args: argparse.Namespace) -> token_file.TokenStore | None:
    """The tokens callers must present; None with --no-auth."""
    if args.no_auth:
        print_warning("--no-auth: anyone who can reach this address can use the endpoint.")
        return None
    path = Path(args.tokens).expanduser() if args.tokens else token_file.default_path()
    store = token_file.TokenStore(path)
    if store.problem:
        raise _Refused(store.problem, "Fix or remove the file, then add tokens.")
    if not store.names():
        raise _Refused(
            f"no API tokens in {path}: nobody could use the endpoint.",
            "Add one per user with `safecoder-lsp endpoint token add NAME"
            + (f" --tokens {args.tokens}" if args.tokens else "")
            + "`, or pass --no-auth to serve without tokens (trusted networks only).",
        )
    return store


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context; None for plain HTTP. Raises TlsError or _Refused."""
    from safecoder_lsp.endpoint.tls import server_context

    if (args.tls_key or args.tls_client_ca) and not args.tls_cert:
        raise _Refused(
            "--tls-key and --tls-client-ca need --tls-cert.",
            "Pass the server certificate with --tls-cert FILE.",
        )
    if not args.tls_cert:
        return None
    return server_context(args.tls_cert, args.tls_key, args.tls_client_ca)


def _open_judge(config: Config, args: argparse.Namespace) -> Judge | None:
    """Attribution of generated text; None when attribution.action is off."""
    from safecoder_lsp.endpoint.judge import Judge

    judge = Judge.open(config)
    if args.index and judge is None:
        print_warning("--index is ignored: attribution.action is off.")
    return judge


def _load_model(config: Config, args: argparse.Namespace, started: float) -> Backend:
    """The backend with its model loaded (raises EngineError); warns about a GPU the
    model does not use."""
    from safecoder_lsp.endpoint.backends import make_backend, unused_gpu

    backend = make_backend(config, args.slots, args.step_tokens, args.weights)
    info = backend.info()
    log.info("model %s loaded in %.2f s", info.model, time.monotonic() - started)
    unused = unused_gpu(info, config)
    if unused:
        print_warning(unused)
    return backend


def _endpoint(
    config: Config,
    args: argparse.Namespace,
    backend: Backend,
    store: token_file.TokenStore | None,
    judge: Judge | None,
) -> Endpoint:
    from safecoder_lsp.endpoint.backends import model_file
    from safecoder_lsp.endpoint.ratelimit import RateLimiter
    from safecoder_lsp.endpoint.server import Endpoint, Limits

    return Endpoint(
        backend,
        store,
        RateLimiter(args.rate_limit, args.rate_burst),
        Limits(args.max_request_bytes, args.max_tokens, args.queue_limit),
        judge=judge,
        include_code=config.log.include_code,
        model_id=model_file(config) or "",
    )


def _serve_until_stopped(server: EndpointServer, endpoint: Endpoint, backend: Backend) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the server, the endpoint and the model."""
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
