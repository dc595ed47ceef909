"""Configuration handlers: workspace/didChangeConfiguration, and the
workspace/configuration pull (after initialized and when a change carries no settings).

The configuration is layered by ``safecoder_lsp.config.load_config``; the server
applies it (``SafecoderServer.set_workspace_settings``).
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types as t

from safecoder_lsp.lsp.server import SafecoderServer

log = logging.getLogger(__name__)

SECTION = "safecoder"  # the workspace settings' section
PULL_TIMEOUT_S = 10  # a client that does not answer must not block us


def register(server: SafecoderServer) -> None:
    @server.feature(t.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: SafecoderServer, params: t.DidChangeConfigurationParams
    ) -> None:
        settings = params.settings
        if isinstance(settings, dict) and settings:
            ls.set_workspace_settings(settings.get(SECTION, settings))
        else:
            await pull_configuration(ls)


async def pull_configuration(ls: SafecoderServer) -> None:
    """Ask the client for the workspace's settings and apply them."""
    try:
        values = await asyncio.wait_for(
            ls.workspace_configuration_async(
                t.ConfigurationParams(items=[t.ConfigurationItem(section=SECTION)])
            ),
            timeout=PULL_TIMEOUT_S,
        )
    except Exception as exc:  # a client that does not answer must not block us
        log.warning("workspace/configuration failed: %s", exc)
        return
    settings = values[0] if values else None
    ls.set_workspace_settings(settings if isinstance(settings, dict) else None)
