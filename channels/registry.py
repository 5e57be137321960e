"""Channel registry: a channel name → its built ChannelSpec. Adding a channel is one line here."""

from __future__ import annotations

import importlib

from channels.base import ChannelConfig, ChannelSpec

# name → "module:function" returning a ChannelSpec from a ChannelConfig.
CHANNELS: dict[str, str] = {
    "webform": "channels.webform:build",
    "email": "channels.email:build",
    "telegram": "channels.telegram:build",
    "phone": "channels.phone:build",
}


class UnknownChannel(KeyError):
    """A notification or message names a channel Okno does not have."""


class Registry:
    """Built channels, created lazily so a channel that is not configured costs nothing."""

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self._built: dict[str, ChannelSpec] = {}

    def get(self, name: str) -> ChannelSpec:
        if name not in self._built:
            self._built[name] = _build(name, self.config)
        return self._built[name]

    def names(self) -> list[str]:
        return [name for name in CHANNELS if _importable(name)]


def _build(name: str, config: ChannelConfig) -> ChannelSpec:
    target = CHANNELS.get(name)
    if target is None:
        raise UnknownChannel(name)
    module_name, func_name = target.split(":")
    module = importlib.import_module(module_name)
    spec: ChannelSpec = getattr(module, func_name)(config)
    return spec


def _importable(name: str) -> bool:
    module_name = CHANNELS[name].split(":")[0]
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError:
        return False
    return True
