"""Where the endpoint token comes from: an environment variable or a file.

Never from a setting: a token in a settings file or a workspace would end up in a
repository. The file is read again when it changes, so a renewed token takes effect
without restarting the editor.
"""

from __future__ import annotations

import os
import threading

from engine.base import EngineError

TOKEN_ENV = "SAFECODER_API_TOKEN"


class TokenFile:
    """The token in ``path`` (first line, stripped); re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._token = ""
        self()  # a missing or unreadable file is reported at start

    def __call__(self) -> str:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise EngineError(
                f"cannot read the endpoint token file {self.path}: {exc.strerror or exc}.",
                "Create it with the token your administrator gave you (engine.api_token_file).",
            ) from exc
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    with open(self.path, encoding="utf-8") as f:
                        token = f.readline().strip()
                except (OSError, UnicodeDecodeError) as exc:
                    raise EngineError(
                        f"cannot read the endpoint token file {self.path}: {exc}.",
                        "Make it a readable UTF-8 text file holding the token.",
                    ) from exc
                if not token:
                    raise EngineError(
                        f"the endpoint token file {self.path} is empty.",
                        "Put the token on its first line.",
                    )
                self._token, self._stamp = token, stamp
            return self._token


def token_source(path: str, env: dict[str, str] | None = None):
    """The token (or a callable giving it) for ``engine.api_token_file`` = ``path``;
    ``$SAFECODER_API_TOKEN`` when no file is set; "" when neither is."""
    if path.strip():
        return TokenFile(path.strip())
    env = dict(os.environ) if env is None else env
    return env.get(TOKEN_ENV, "").strip()
