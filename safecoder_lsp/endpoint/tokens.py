"""API tokens of the endpoint: a JSON file of names and sha256 hashes.

A token is ``sc-`` + 43 URL-safe characters (256 random bits), shown once when it
is made; only its sha256 is stored, so the file reveals no usable secret (a hash
of that much entropy cannot be reversed; no salt or slow hash is needed). A
presented token is hashed and compared with every stored hash using
``hmac.compare_digest``.

The file (``<user config dir>/safecoder/endpoint-tokens.json`` by default) is
written atomically with mode 0600::

    {"version": 1, "tokens": [{"name": "alice", "sha256": "...", "created": "..."}]}

The server asks ``TokenStore.lookup`` on every request; the file is read again when
its modification time or size changed, so adding and revoking take effect without a
restart. A file that became unreadable or malformed denies every token until fixed.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "sc-"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class TokenError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class TokenEntry:
    name: str
    sha256: str
    created: str


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("safecoder")) / "endpoint-tokens.json"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def read_entries(path: Path) -> list[TokenEntry]:
    """The tokens in ``path`` ([] when it does not exist). Raises TokenError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TokenError(
            f"cannot read the tokens file {path}: {exc}.",
            "Fix or remove the file, then add tokens with `safecoder-lsp endpoint token add NAME`.",
        ) from exc
    try:
        entries = [
            TokenEntry(str(t["name"]), str(t["sha256"]), str(t.get("created", "")))
            for t in data["tokens"]
        ]
    except (TypeError, KeyError) as exc:
        raise TokenError(
            f"the tokens file {path} is not in the expected format (missing {exc}).",
            "Fix or remove the file, then add tokens with `safecoder-lsp endpoint token add NAME`.",
        ) from exc
    return entries


def write_entries(path: Path, entries: list[TokenEntry]) -> None:
    """Replace ``path`` atomically by a 0600 file holding ``entries``."""
    data = {
        "version": 1,
        "tokens": [{"name": e.name, "sha256": e.sha256, "created": e.created} for e in entries],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".endpoint-tokens.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def add(path: Path, name: str) -> str:
    """Make a token named ``name``, store its hash, and return the token."""
    if not NAME_RE.match(name):
        raise TokenError(
            f"{name!r} is not a usable token name.",
            "Use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.",
        )
    entries = read_entries(path)
    if any(e.name == name for e in entries):
        raise TokenError(
            f"a token named {name!r} already exists in {path}.",
            f"Pick another name, or revoke it first: `safecoder-lsp endpoint token revoke {name}`.",
        )
    token = new_token()
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_entries(path, [*entries, TokenEntry(name, digest(token), created)])
    return token


def revoke(path: Path, name: str) -> None:
    entries = read_entries(path)
    kept = [e for e in entries if e.name != name]
    if len(kept) == len(entries):
        known = ", ".join(e.name for e in entries) or "none"
        raise TokenError(
            f"no token named {name!r} in {path} (tokens: {known}).",
            "List them with `safecoder-lsp endpoint token list`.",
        )
    write_entries(path, kept)


class TokenStore:
    """The server's view of the tokens file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[TokenEntry] = []
        self.problem = ""  # why every token is refused, when the file is unusable
        self._reload()

    def names(self) -> list[str]:
        with self._lock:
            self._reload()
            return [e.name for e in self._entries]

    def lookup(self, token: str) -> str | None:
        """The name of ``token``, or None when it is unknown or revoked."""
        wanted = digest(token)
        with self._lock:
            self._reload()
            entries = self._entries
        found = None
        for entry in entries:  # compare with all, in constant time each
            if hmac.compare_digest(entry.sha256, wanted):
                found = entry.name
        return found

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            self._stamp = (-1, -1, -1)
            self._fail(f"cannot read the tokens file {self.path}: {exc}.")
            return
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._entries = read_entries(self.path)
            if self.problem:
                log.info("the tokens file %s is usable again", self.path)
            self.problem = ""
        except TokenError as exc:
            self._fail(exc.message)
            return
        log.info("loaded %d API token(s) from %s", len(self._entries), self.path)

    def _fail(self, message: str) -> None:
        if self.problem != message:
            log.error("%s Every token is refused until it is fixed.", message)
        self.problem = message
        self._entries = []
