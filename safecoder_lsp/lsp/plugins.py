"""The endpoints Hugging Face plugins name in ``llm-ls/getCompletions``.

``safecoder_lsp.plugin_backend`` says when such an endpoint is honoured; this module
keeps, for the configuration in force, a completion service for each of the last few
endpoints used and the refusals decided (a refused endpoint is not judged again on
every keystroke; one whose host did not resolve is tried again after a while).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from lsprotocol import types as t

from safecoder_lsp import plugin_backend
from safecoder_lsp.completion.attribution import Attributor
from safecoder_lsp.completion.service import CompletionService
from safecoder_lsp.config import Config
from safecoder_lsp.plugin_backend import PluginBackend, Refusal

# Endpoints named by Hugging Face plugins: clients kept, refusals remembered.
MAX_PLUGIN_SERVICES = 2
MAX_PLUGIN_REFUSALS = 64

# Makes and starts the service for a configuration and an API token (the plugin's).
MakeService = Callable[[Config, str | None], CompletionService]
# Shows the user a message (once per distinct message).
Tell = Callable[[str, t.MessageType], None]


class PluginServices:
    """The services of the endpoints plugins named, most recently used last (requests
    for two of them may overlap), and the refusals decided under the configuration."""

    def __init__(
        self, config: Config, pinned: dict[str, str], make: MakeService, tell: Tell
    ) -> None:
        self._config = config
        self._pinned = pinned  # keys the admin policy sets
        self._make = make
        self._tell = tell
        self._services: OrderedDict[tuple, tuple[PluginBackend, CompletionService]]
        self._services = OrderedDict()
        self._refused: dict[tuple, tuple[Refusal, float]] = {}  # key -> (why, when decided)
        self._generation = 0  # bumped by every configuration applied

    def configure(self, config: Config, pinned: dict[str, str], *, reset: bool = False) -> None:
        """The configuration in force from now on; ``reset``: the services built and
        the refusals decided under the previous one no longer hold."""
        self._config = config
        self._pinned = pinned
        self._generation += 1
        if reset:
            self.close()
            self._refused.clear()

    async def service_for(self, plugin: PluginBackend) -> CompletionService | None:
        """The service for the endpoint ``plugin`` names; None (the user told once why)
        when the policy or the egress guard does not allow it."""
        known = self._services.get(plugin.key)
        if known is not None:
            self._services.move_to_end(plugin.key)
            return known[1]
        refusal = self._refused_earlier(plugin.key)
        if refusal is None:
            generation = self._generation
            refusal = await self._judge(plugin)
            if generation != self._generation:  # decided under an older configuration
                return await self.service_for(plugin)
            if refusal is not None:
                if len(self._refused) >= MAX_PLUGIN_REFUSALS:
                    self._refused.clear()
                self._refused[plugin.key] = (refusal, time.monotonic())
        if refusal is not None:
            self._tell(refusal.message, t.MessageType.Warning)
            return None
        known = self._services.get(plugin.key)
        if known is not None:  # made by a request that overlapped the check above
            return known[1]
        return self._start(plugin)

    async def _judge(self, plugin: PluginBackend) -> Refusal | None:
        """Why the endpoint may not be used (the admin policy, then the egress guard)."""
        refusal = plugin_backend.policy_refusal(plugin, self._config, self._pinned)
        if refusal is None:
            loop = asyncio.get_running_loop()  # resolving the host may block
            refusal = await loop.run_in_executor(
                None, plugin_backend.egress_refusal, plugin, self._config
            )
        return refusal

    def _refused_earlier(self, key: tuple) -> Refusal | None:
        """The refusal decided earlier for ``key``, unless it was to be tried again."""
        refusal, decided = self._refused.get(key, (None, 0.0))
        if refusal is None or refusal.retry_after_s is None:
            return refusal
        return refusal if time.monotonic() - decided < refusal.retry_after_s else None

    def _start(self, plugin: PluginBackend) -> CompletionService:
        config = plugin_backend.plugin_config(self._config, plugin)
        service = self._make(config, plugin.token)
        self._services[plugin.key] = (plugin, service)
        while len(self._services) > MAX_PLUGIN_SERVICES:
            _, (_, oldest) = self._services.popitem(last=False)
            oldest.worker.close(timeout=0)
        self._tell(
            f"completions come from the endpoint the plugin names: {plugin.url} "
            f"({plugin.backend}{', ' + plugin.model if plugin.model else ''}).",
            t.MessageType.Info,
        )
        return service

    def services(self) -> list[CompletionService]:
        return [service for _, service in self._services.values()]

    def latest_url(self) -> str | None:
        """The endpoint of the most recently used plugin service, if any."""
        if not self._services:
            return None
        plugin, _ = next(reversed(self._services.values()))
        return plugin.url

    def share_attributor(self, attributor: Attributor | None) -> None:
        """The plugins' services check suggestions against the main service's index."""
        for _, service in self._services.values():
            service.attributor = attributor

    def close(self) -> None:
        """Drop the services (their attribution index is the main service's)."""
        while self._services:
            _, (_, service) = self._services.popitem()
            service.worker.close(timeout=0)
