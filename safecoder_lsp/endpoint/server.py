"""The endpoint's HTTP server: routes, auth, limits, streaming.

- ``POST /v1/completions`` (also ``/completions``): OpenAI completions, streamed as
  server-sent events or whole; needs a token.
- ``GET /v1/models`` (also ``/models``): the one model; needs a token.
- ``GET /metrics``: Prometheus text; needs a token (Prometheus sends one with
  ``authorization: {credentials_file: ...}``).
- ``GET /health``: no token: status, model, queue.

A request is checked in this order, each failure answered at once: route (404),
method (405), token (401), ``Content-Length`` (411, 413: before the body is read),
rate limit (429), body (400), prompt length (413), queue (503). Then it waits in the
backend's queue; meanwhile the watcher cancels it if the client hangs up.

With attribution (an index), the whole text is generated first and judged, then
sent, also when streaming: a stream then carries one text event and the final one.

Logs say request id, token name, status, token counts and latency; the prompt and
the generated text only with ``log.include_code``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.base import CancelToken, EngineError, GenerationRequest
from engine.fim import FimTemplate
from safecoder_lsp import __version__
from safecoder_lsp.endpoint.backend import Backend, Generation
from safecoder_lsp.endpoint.judge import Judge
from safecoder_lsp.endpoint.metrics import EndpointMetrics
from safecoder_lsp.endpoint.ratelimit import RateLimiter
from safecoder_lsp.endpoint.schema import (
    Answer,
    ApiError,
    CompletionParams,
    completion_id,
    finish_reason,
    parse_completion,
    usage,
)
from safecoder_lsp.endpoint.tokens import TokenStore
from safecoder_lsp.endpoint.watch import DisconnectWatcher, Watch

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0  # a keep-alive connection with no request is closed after this
TOKEN_HINT = (
    "In safecoder-lsp set engine.api_token_file to a file holding a token that "
    "`safecoder-lsp endpoint token add NAME` printed on the endpoint's host."
)
CLIENT_GONE = 499  # logged and counted; never sent (nobody is listening)
CLIENT_CLOSED = "client_closed"  # finish reason counted for a client that stopped reading

# canonical route -> (method, handler name, needs a token)
ROUTES: dict[str, tuple[str, str, bool]] = {
    "/v1/completions": ("POST", "_completions", True),
    "/v1/models": ("GET", "_models", True),
    "/metrics": ("GET", "_metrics", True),
    "/health": ("GET", "_health", False),
}
ALIASES = {"/completions": "/v1/completions", "/models": "/v1/models"}


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 1 << 20
    max_tokens: int = 256
    queue_limit: int = 64


@dataclass
class Endpoint:
    """Everything the requests share. ``tokens`` None: no auth (all "anonymous")."""

    backend: Backend
    tokens: TokenStore | None
    limiter: RateLimiter
    limits: Limits = field(default_factory=Limits)
    judge: Judge | None = None
    include_code: bool = False
    model_id: str = ""

    def __post_init__(self) -> None:
        info = self.backend.info()
        self.n_ctx = info.n_ctx
        if not self.model_id:
            self.model_id = Path(info.details.get("path", "")).name or info.model
        self.metrics = EndpointMetrics(self.backend.stats)
        self.watcher = DisconnectWatcher()

    def close(self) -> None:
        """Stops the watcher and the judge; the backend belongs to the caller."""
        self.watcher.close()
        if self.judge is not None:
            self.judge.close()


def code_before_hole(template: FimTemplate | None, prompt: str) -> str:
    """The code before the cursor in a FIM ``prompt`` (the whole prompt if it is not
    one): what attribution reads before the suggestion."""
    if template is None:
        return prompt
    p, s, m = template.prefix, template.suffix, template.middle
    i, k = prompt.rfind(p), prompt.rfind(m)
    if i < 0 or k < 0:
        return prompt
    if template.order == "spm":
        if i > k:
            return prompt
        return prompt[i + len(p) : k] + prompt[k + len(m) :]
    j = prompt.find(s, i + len(p))
    if j < 0 or j > k:
        return prompt
    return prompt[i + len(p) : j] + prompt[k + len(m) :]


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: a team's editors connect in bursts

    def __init__(
        self,
        address: tuple[str, int],
        endpoint: Endpoint,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = endpoint
        super().__init__(address, Handler)
        self.tls = tls
        if tls is not None:
            # the handshake happens in the request's thread, never in accept()
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                self.endpoint.metrics.tls_failures.inc()
                log.info("TLS handshake with %s failed: %s", client_address[0], exc)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"safecoder-endpoint/{__version__}"
    timeout = IDLE_TIMEOUT_S
    server: EndpointServer

    # -- plumbing ----------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        # small writes (headers then body, one event per piece) go out at once
        # instead of waiting for the client's delayed ACK (Nagle): 40 ms a request
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # our own log line instead
        pass

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def _dispatch(self) -> None:
        app = self.server.endpoint
        self._started = time.monotonic()
        self._status = 0
        self._user = "-"
        self._id = "-"
        self._note = ""
        self._generation: Generation | None = None
        self._counted = False  # the completion is in the metrics already
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        self._body_unread = chunked or self.headers.get("Content-Length", "0").strip() != "0"
        path = urlsplit(self.path).path
        route = ALIASES.get(path, path)
        label = route if route in ROUTES else "other"
        try:
            if route not in ROUTES:
                raise ApiError(404, f"no route {path}; see /v1/completions.", code="not_found")
            method, name, needs_token = ROUTES[route]
            if self.command != method:
                raise ApiError(
                    405,
                    f"{path} takes {method}, not {self.command}.",
                    code="method_not_allowed",
                    headers={"Allow": method},
                )
            if needs_token:
                self._user = self._authenticate()
            getattr(self, name)()
        except ApiError as exc:
            self._send_error(exc)
        except _ClientGone:
            self._status = CLIENT_GONE
            self.close_connection = True
            app.metrics.client_gone.inc()
            self._account_closed()
        except Exception as exc:
            log.exception("request %s failed", self._id)
            if self._status:  # the answer had begun: it cannot become an error now
                self.close_connection = True
            else:
                self._send_error(
                    ApiError(500, f"internal error: {exc}", "server_error", "internal")
                )
        finally:
            elapsed = time.monotonic() - self._started
            app.metrics.requests.inc(label, str(self._status))
            app.metrics.latency.observe(elapsed, label)
            log.info(
                "%s %s %s token=%s status=%d%s %.0f ms",
                self._id,
                self.command,
                label,
                self._user,
                self._status,
                self._note,
                elapsed * 1000,
            )

    def _send_json(
        self, status: int, body: Any, headers: dict[str, str] | None = None, *, close: bool = False
    ) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._send_bytes(status, data, "application/json", headers, close=close)

    def _send_bytes(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        self._status = status
        if self._body_unread:
            close = True  # the rest of the connection is the unread body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _send_error(self, exc: ApiError) -> None:
        if exc.status in (401, 413, 429, 503):
            self.server.endpoint.metrics.rejected.inc(str(exc.status))
        self._note = self._note or f" error={exc.code}"
        self._send_json(exc.status, exc.body(), exc.headers)

    # -- checks ------------------------------------------------------------------
    def _authenticate(self) -> str:
        tokens = self.server.endpoint.tokens
        if tokens is None:
            return ANONYMOUS
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "missing API token: send 'Authorization: Bearer <token>'. " + TOKEN_HINT,
                "authentication_error",
                "missing_api_key",
                headers={"WWW-Authenticate": 'Bearer realm="safecoder"'},
            )
        name = tokens.lookup(token)
        if name is None:
            why = (
                "the endpoint's tokens file is unusable: its administrator must fix it"
                if tokens.problem
                else "it is unknown or was revoked"
            )
            raise ApiError(
                401,
                f"the API token was refused ({why}). " + TOKEN_HINT,
                "authentication_error",
                "invalid_api_key",
                headers={"WWW-Authenticate": 'Bearer realm="safecoder", error="invalid_token"'},
            )
        return name

    def _content_length(self) -> int:
        limit = self.server.endpoint.limits.max_request_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise ApiError(411, "send the body with a Content-Length, not chunked.", code="length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise ApiError(411, "the request needs a Content-Length header.", code="length")
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            raise ApiError(400, f"bad Content-Length {raw[:40]!r}.", code="invalid_request")
        if length > limit:
            raise ApiError(
                413,
                f"the request body has {length} bytes; this endpoint takes at most {limit} "
                "(--max-request-bytes).",
                code="request_too_large",
            )
        return length

    def _rate_limit(self) -> None:
        limiter = self.server.endpoint.limiter
        wait = limiter.check(self._user)
        if wait > 0:
            retry = limiter.retry_after(wait)
            raise ApiError(
                429,
                f"rate limit reached for token {self._user!r}: {limiter.describe()}. "
                f"Retry in {retry} s.",
                "rate_limit_error",
                "rate_limit_exceeded",
                headers={"Retry-After": str(retry)},
            )

    def _read_json(self, length: int) -> Any:
        raw = self.rfile.read(length)
        self._body_unread = False
        if len(raw) < length:
            raise _ClientGone
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(
                400, f"the request body is not valid JSON: {exc}.", code="invalid_json"
            ) from None

    def _check_prompt_length(self, prompt: str) -> None:
        app = self.server.endpoint
        n_ctx = app.n_ctx
        if not n_ctx or len(prompt.encode("utf-8", "surrogatepass")) + 1 < n_ctx:
            return  # a token is at least a byte: it fits without counting
        count = app.backend.count_tokens(prompt)
        if count + 1 >= n_ctx:
            raise ApiError(
                413,
                f"the prompt has about {count} tokens; the model's context holds {n_ctx}. "
                "Send a shorter prompt (lower completion.prefix_tokens / suffix_tokens).",
                code="context_length_exceeded",
                param="prompt",
            )

    # -- routes ------------------------------------------------------------------
    def _health(self) -> None:
        app = self.server.endpoint
        stats = app.backend.stats()
        body = {
            "status": "ok",
            "model": app.model_id,
            "queued": stats.get("queued", 0),
            "active": stats.get("active", 0),
        }
        self._send_json(200, body)

    def _models(self) -> None:
        app = self.server.endpoint
        model = {"id": app.model_id, "object": "model", "created": 0, "owned_by": "safecoder"}
        self._send_json(200, {"object": "list", "data": [model]})

    def _metrics(self) -> None:
        app = self.server.endpoint
        data = app.metrics.render().encode("utf-8")
        self._send_bytes(200, data, app.metrics.CONTENT_TYPE)

    def _completions(self) -> None:
        app = self.server.endpoint
        length = self._content_length()
        self._rate_limit()
        self._id = completion_id()
        params = parse_completion(self._read_json(length), max_tokens_cap=app.limits.max_tokens)
        template = app.backend.fim_template
        if params.suffix is not None:
            if template is None:
                raise ApiError(
                    400,
                    "'suffix' needs a fill-in-the-middle model; this one has no FIM template: "
                    "send a FIM-formatted prompt without suffix.",
                    code="invalid_value",
                    param="suffix",
                )
            prompt = template.build(params.prompt, params.suffix)
            before = params.prompt
            stop = params.stop + template.stop_words
        else:
            prompt, before, stop = (
                params.prompt,
                code_before_hole(template, params.prompt),
                params.stop,
            )
        self._check_prompt_length(prompt)
        if app.backend.stats().get("queued", 0) >= app.limits.queue_limit:
            raise ApiError(
                503,
                f"the endpoint is busy: {app.limits.queue_limit} requests are waiting "
                "(--queue-limit). Retry shortly.",
                "server_error",
                "queue_full",
                headers={"Retry-After": "1"},
            )
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=params.max_tokens,
            stop=tuple(dict.fromkeys(stop)),
            temperature=params.temperature,
        )
        answer = Answer(self._id, params.model or app.model_id)
        if app.include_code:
            log.info("%s prompt=%r", self._id, prompt)
        cancel = CancelToken()
        with app.watcher.watching(self.connection, cancel) as watch:
            generation = self._generation = app.backend.submit(request, cancel, user=self._user)
            if params.stream and app.judge is None:
                self._stream(answer, generation, cancel, watch)
            else:
                self._whole(answer, params, generation, watch, before)

    def _first_piece(self) -> None:
        self.server.endpoint.metrics.first_token.observe(time.monotonic() - self._started)

    def _collect(self, generation: Generation, watch: Watch) -> str:
        pieces = []
        error = None
        try:
            for piece in generation:
                if not pieces:
                    self._first_piece()
                pieces.append(piece)
        except EngineError as exc:  # a backend may raise it at the end (batched)
            error = exc
        if watch.gone:
            raise _ClientGone
        error = error or generation.error
        if error is not None:
            raise ApiError(500, str(error), "server_error", "engine_error")
        return "".join(pieces)

    def _finish(self, generation: Generation, text: str, finish: str) -> dict[str, int]:
        app = self.server.endpoint
        stats = generation.stats
        prompt_tokens = stats.prompt_tokens if stats else 0
        generated = stats.generated_tokens if stats else 0
        self._counted = True
        app.metrics.completions.inc(self._user, finish)
        app.metrics.generated_tokens.inc(self._user, amount=generated)
        app.metrics.prompt_tokens.inc(self._user, amount=prompt_tokens)
        self._note = f" prompt_tokens={prompt_tokens} completion_tokens={generated} finish={finish}"
        if app.include_code:
            log.info("%s text=%r", self._id, text)
        return usage(prompt_tokens, generated)

    def _account_closed(self) -> None:
        """A client that stopped reading once it had what it wanted (our language
        server closes the stream when the line is complete) was still served: its
        tokens count for its API token, finish_reason "client_closed"."""
        generation = self._generation
        if self._counted:  # it went wrong on the last write: counted as finished
            return
        if generation is None or not generation.wait(2):  # cancelled: ends at once
            return
        if generation.stats is None or not generation.stats.generated_tokens:
            return  # gone before anything was generated (in the queue, say)
        self._finish(generation, "", CLIENT_CLOSED)

    def _judge(self, before: str, text: str) -> tuple[str, str | None, list[dict[str, Any]]]:
        """(text, finish reason if blocked, references) after attribution."""
        judge = self.server.endpoint.judge
        assert judge is not None
        if not text:
            return text, None, []
        try:
            verdict = judge.judge(before, text)
        except Exception as exc:
            log.exception("attribution failed for %s", self._id)
            raise ApiError(
                500, f"attribution failed: {exc}", "server_error", "attribution_error"
            ) from None
        references = judge.references(verdict, text)
        if verdict.blocked:
            return "", "content_filter", references
        return text, None, references

    def _whole(
        self,
        answer: Answer,
        params: CompletionParams,
        generation: Generation,
        watch: Watch,
        before: str,
    ) -> None:
        text = self._collect(generation, watch)
        finish = finish_reason(generation.stats)
        references = None
        if self.server.endpoint.judge is not None:
            text, blocked, references = self._judge(before, text)
            finish = blocked or finish
        use = self._finish(generation, text, finish)
        if not params.stream:
            body = answer.object(text, finish, references=references, usage=use)
            self._send_json(200, body, {"X-Request-Id": answer.id})
            return
        try:
            self._start_events(answer)
            if text:
                self._event(answer.object(text, None))
            self._event(answer.object("", finish, references=references, usage=use))
            self._end_events()
        except OSError:
            raise _ClientGone from None

    def _stream(
        self, answer: Answer, generation: Generation, cancel: CancelToken, watch: Watch
    ) -> None:
        started = False
        pieces = []
        raised = None
        try:
            for piece in generation:
                if not started:
                    self._first_piece()
                    self._start_events(answer)
                    started = True
                pieces.append(piece)
                self._event(answer.object(piece, None))
        except OSError:
            cancel.cancel()  # nobody reads the rest: stop generating now
            raise _ClientGone from None
        except EngineError as exc:  # a backend may raise it at the end (batched)
            raised = exc
        if watch.gone:
            raise _ClientGone
        error = raised or generation.error
        if error is not None and not started:
            raise ApiError(500, str(error), "server_error", "engine_error")
        try:
            if not started:
                self._start_events(answer)
            if error is not None:
                self._note = " error=engine_error"
                self._event(ApiError(500, str(error), "server_error", "engine_error").body())
            else:
                finish = finish_reason(generation.stats)
                use = self._finish(generation, "".join(pieces), finish)
                self._event(answer.object("", finish, usage=use))
            self._end_events()
        except OSError:
            raise _ClientGone from None

    # -- server-sent events over chunked transfer ---------------------------------
    def _start_events(self, answer: Answer) -> None:
        self._status = 200
        self._body_unread = False
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Request-Id", answer.id)
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _event(self, body: Any) -> None:
        self._chunk(b"data: " + json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n\n")

    def _end_events(self) -> None:
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
