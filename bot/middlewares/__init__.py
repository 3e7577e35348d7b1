"""aiogram middlewares: access control, per-chat ordering, update logging, API retries."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.types import TelegramObject

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
"""What a middleware hands an update on to: the next middleware, or the handler."""
