"""PluginServices: the services of the endpoints Hugging Face plugins name, kept for
the configuration in force, and the refusals remembered."""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types as t

from safecoder_lsp.config import Config, load_config
from safecoder_lsp.llmls import parse_get_completions
from safecoder_lsp.lsp import plugins as plugins_module
from safecoder_lsp.lsp.plugins import MAX_PLUGIN_SERVICES, PluginServices
from safecoder_lsp.plugin_backend import PluginBackend, requested


@dataclass
class FakeWorker:
    closed: bool = False

    def close(self, timeout: float) -> None:
        self.closed = True


@dataclass
class FakeService:
    config: Config
    token: str | None
    worker: FakeWorker = field(default_factory=FakeWorker)
    attributor: object = None


def config(**env: str) -> Config:
    return load_config(user_file=None, env=env, policy=[]).config


def plugin(url: str, token: str = "") -> PluginBackend:
    params = {
        "textDocument": {"uri": "file:///a.py"},
        "position": {"line": 0, "character": 0},
        "backend": "openai",
        "url": url,
        "apiToken": token,
    }
    p = requested(parse_get_completions(params))
    assert p is not None
    return p


class Harness:
    def __init__(self, cfg: Config) -> None:
        self.made: list[FakeService] = []
        self.told: list[tuple[str, t.MessageType]] = []
        self.plugins = PluginServices(cfg, {}, self.make, self.tell)

    def make(self, cfg: Config, token: str | None) -> FakeService:
        service = FakeService(cfg, token)
        self.made.append(service)
        return service  # type: ignore[return-value]

    def tell(self, message: str, kind: t.MessageType) -> None:
        self.told.append((message, kind))


ON = {"SAFECODER_NETWORK_PLUGIN_ENDPOINTS": "true"}


async def test_an_allowed_endpoint_gets_a_service_made_once():
    h = Harness(config(**ON))
    first = await h.plugins.service_for(plugin("http://127.0.0.1:8000", token="tok"))
    again = await h.plugins.service_for(plugin("http://127.0.0.1:8000", token="tok"))
    assert first is again and len(h.made) == 1
    assert first.config.engine.url == "http://127.0.0.1:8000" and first.token == "tok"
    assert h.told == [
        (
            "completions come from the endpoint the plugin names: http://127.0.0.1:8000 (openai).",
            t.MessageType.Info,
        )
    ]
    assert h.plugins.services() == [first]
    assert h.plugins.latest_url() == "http://127.0.0.1:8000"


async def test_a_refusal_is_told_and_remembered(monkeypatch):
    h = Harness(config())  # network.plugin_endpoints is off
    judged = []
    real = plugins_module.plugin_backend.policy_refusal

    def counting(*args):
        judged.append(args)
        return real(*args)

    monkeypatch.setattr(plugins_module.plugin_backend, "policy_refusal", counting)
    assert await h.plugins.service_for(plugin("http://10.0.0.5:8000")) is None
    assert await h.plugins.service_for(plugin("http://10.0.0.5:8000")) is None
    assert len(judged) == 1 and h.made == []
    assert [kind for _, kind in h.told] == [t.MessageType.Warning] * 2
    assert "network.plugin_endpoints is off" in h.told[0][0]
    assert h.plugins.latest_url() is None


async def test_only_the_last_few_services_are_kept():
    h = Harness(config(**ON))
    for port in range(MAX_PLUGIN_SERVICES + 1):
        await h.plugins.service_for(plugin(f"http://127.0.0.1:{8000 + port}"))
    assert h.made[0].worker.closed
    assert not any(s.worker.closed for s in h.made[1:])
    assert h.plugins.services() == h.made[1:]
    assert h.plugins.latest_url() == f"http://127.0.0.1:{8000 + MAX_PLUGIN_SERVICES}"


async def test_a_reset_drops_services_and_refusals():
    h = Harness(config())
    assert await h.plugins.service_for(plugin("http://127.0.0.1:8000")) is None
    h.plugins.configure(config(**ON), {})  # no reset: the refusal holds
    assert await h.plugins.service_for(plugin("http://127.0.0.1:8000")) is None
    h.plugins.configure(config(**ON), {}, reset=True)
    service = await h.plugins.service_for(plugin("http://127.0.0.1:8000"))
    assert service is not None
    h.plugins.share_attributor("index")  # type: ignore[arg-type]
    assert service.attributor == "index"
    h.plugins.configure(config(**ON), {}, reset=True)
    assert service.worker.closed and h.plugins.services() == []


async def test_a_pinned_engine_refuses():
    h = Harness(config(**ON))
    h.plugins.configure(config(**ON), {"engine.url": "admin policy /p"}, reset=True)
    assert await h.plugins.service_for(plugin("http://127.0.0.1:8000")) is None
    assert "engine.url is pinned by the admin policy /p" in h.told[-1][0]
