"""The session manager's part that keeps each chat's own settings (language, vocabulary).

A mixin of :class:`~sessions.manager.FileSessionManager`: the settings live in a
:class:`~sessions.chat_settings.ChatSettingsStore` (their own SQLite file once the bot
hands it over, :mod:`library.chat_settings_store`; in memory until then), changed one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sessions.chat_settings import ChatSettings, ChatSettingsStore, MemoryChatSettings


class ChatSettingsKeeper:
    """The contract's chat-settings operations over a :class:`ChatSettingsStore`."""

    _chat_settings: ChatSettingsStore
    _settings_changes: asyncio.Lock

    def _keep_chat_settings(self, store: ChatSettingsStore | None) -> None:
        """Start keeping chats' settings (in ``store``; in memory when None)."""
        self._chat_settings = store or MemoryChatSettings()
        self._settings_changes = asyncio.Lock()

    def use_chat_settings(self, store: ChatSettingsStore) -> None:
        """Keep chats' settings in ``store`` from now on (their SQLite file, opened with the
        session library after the manager exists)."""
        self._chat_settings = store

    async def get_chat_settings(self, chat_id: int) -> ChatSettings:
        return await self._chat_settings.load_chat_settings(chat_id) or ChatSettings()

    async def update_chat_settings(
        self, chat_id: int, change: Callable[[ChatSettings], ChatSettings]
    ) -> ChatSettings:
        async with self._settings_changes:  # two taps at once must not lose one change
            current = await self.get_chat_settings(chat_id)
            changed = change(current)
            if changed != current:
                await self._chat_settings.save_chat_settings(chat_id, changed)
        return changed

    async def delete_chat_settings(self, chat_id: int) -> bool:
        async with self._settings_changes:
            return await self._chat_settings.delete_chat_settings(chat_id)


__all__ = ["ChatSettingsKeeper"]
