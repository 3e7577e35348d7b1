"""The bot's own profile: getMe, its command list and its descriptions."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.fake_telegram.api import (
    DEFAULT_TOKEN,
    Handler,
    Params,
    Upload,
    bad_request,
    json_param,
    str_param,
)
from tests.fake_telegram.core import FakeCore

_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")


class ProfileMixin(FakeCore):
    """Owns who the bot is and what it set about itself."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "fake_test_bot",
        bot_first_name: str = "Fake Bot",
        **options: Any,
    ) -> None:
        super().__init__(token, **options)
        bot_id, _, _ = token.partition(":")
        self.bot_user = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.commands: list[dict[str, str]] = []
        """The command list from the latest successful setMyCommands."""
        self.description: str | None = None
        """The text of the latest successful setMyDescription (None: never set)."""
        self.short_description: str | None = None
        """The text of the latest successful setMyShortDescription (None: never set)."""
        self.by_language: dict[str, dict[str, Any]] = {}
        """What those three calls set for one ``language_code``: by language, then by field
        ("commands", "description", "short_description"); the fields above are the default."""

    def _api_methods(self) -> dict[str, Handler]:
        return {
            **super()._api_methods(),
            "getMe": self._get_me,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyDescription": self._set_my_description,
            "getMyDescription": self._get_my_description,
            "setMyShortDescription": self._set_my_short_description,
            "getMyShortDescription": self._get_my_short_description,
            "close": self._return_true,
            "logOut": self._return_true,
        }

    async def _return_true(self, params: Params, uploads: dict[str, Upload]) -> bool:
        return True

    async def _get_me(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _set_my_commands(self, params: Params, uploads: dict[str, Upload]) -> bool:
        commands = json_param(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON array")
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand")
            if not _COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        listed = [
            {"command": str(c["command"]), "description": str(c["description"])} for c in commands
        ]
        self._set_for_language(params, "commands", listed)
        return True

    def _set_for_language(self, params: Params, field: str, value: Any) -> None:
        language = str_param(params, "language_code")
        if language:
            self.by_language.setdefault(language, {})[field] = value
        else:
            setattr(self, field, value)

    async def _get_my_commands(
        self, params: Params, uploads: dict[str, Upload]
    ) -> list[dict[str, str]]:
        return copy.deepcopy(self.commands)

    async def _delete_my_commands(self, params: Params, uploads: dict[str, Upload]) -> bool:
        self.commands = []
        return True

    async def _set_my_description(self, params: Params, uploads: dict[str, Upload]) -> bool:
        text = str_param(params, "description") or ""
        if len(text) > 512:  # Telegram's limit; an empty text removes the description
            raise bad_request("BOT_DESCRIPTION_INVALID")
        self._set_for_language(params, "description", text)
        return True

    async def _get_my_description(
        self, params: Params, uploads: dict[str, Upload]
    ) -> dict[str, str]:
        return {"description": self.description or ""}

    async def _set_my_short_description(self, params: Params, uploads: dict[str, Upload]) -> bool:
        text = str_param(params, "short_description") or ""
        if len(text) > 120:  # Telegram's limit
            raise bad_request("BOT_SHORT_DESCRIPTION_INVALID")
        self._set_for_language(params, "short_description", text)
        return True

    async def _get_my_short_description(
        self, params: Params, uploads: dict[str, Upload]
    ) -> dict[str, str]:
        return {"short_description": self.short_description or ""}
