"""The bot's words in each user's language: gettext catalogs through ``aiogram.utils.i18n``.

The English texts in the ``*_texts`` modules are the catalogs' message ids. Each update is
answered in the language of the person who sent it (``from_user.language_code``) when a
catalog exists for it, else in English (:class:`ChatLanguageMiddleware`). What the bot sends
outside an update (the transcript after /done, progress edits, written notes) is said in
the language last seen in that chat (:class:`ChatLanguages`, :func:`speaking`).

Outside any i18n context (the tests of texts, the start-up before the dispatcher) every
function here returns the English source unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, SimpleI18nMiddleware

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
CHAT_LANGUAGES_LIMIT = 100_000  # chats remembered; the oldest are forgotten past it


def _(message: str) -> str:
    """``message`` in the current update's language (English outside an update)."""
    i18n = I18n.get_current(no_error=True)
    return message if i18n is None else i18n.gettext(message)


def N_(message: str) -> str:  # gettext's marker name, known to the extractor
    """Marks ``message`` for the catalogs without translating it (translated where used)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` that fits ``n`` in the current language."""
    i18n = I18n.get_current(no_error=True)
    if i18n is None:
        return singular if n == 1 else plural
    return i18n.gettext(singular, plural, n)


def current_locale() -> str:
    """The language texts are being written in now ("en" outside an update)."""
    i18n = I18n.get_current(no_error=True)
    return DEFAULT_LOCALE if i18n is None else i18n.current_locale


def translated(texts: Mapping[str, str], name: str, module: str) -> str:
    """The module constant ``name`` of ``texts`` (keyed there by its name in lower case),
    translated: what each texts module's ``__getattr__`` answers, so ``texts.START`` is said
    in the current language."""
    try:
        if not name.isupper():
            raise KeyError(name)
        return _(texts[name.lower()])
    except KeyError:
        raise AttributeError(f"module {module!r} has no attribute {name!r}") from None


def build_i18n() -> I18n:
    """The catalogs shipped with the bot (compiled ``.mo`` files, kept in the repository)."""
    return I18n(path=LOCALES_DIR, default_locale=DEFAULT_LOCALE, domain=DOMAIN)


def locales(i18n: I18n) -> list[str]:
    """Every language the bot speaks, English first."""
    return [DEFAULT_LOCALE, *sorted(set(i18n.available_locales) - {DEFAULT_LOCALE})]


class ChatLanguages:
    """The language last seen in each chat, in memory: what a message sent outside an update
    (a transcript, a note) is written in. After a restart a chat is English until someone
    writes again; the session's own /done or Done tap is the update seen last before its
    transcript, so the one who finished it is usually who it speaks to."""

    def __init__(self, limit: int = CHAT_LANGUAGES_LIMIT) -> None:
        self._languages: dict[int, str] = {}
        self._limit = limit

    def seen(self, chat_id: int, locale: str) -> None:
        self._languages.pop(chat_id, None)  # re-inserted: the dict keeps the newest last
        self._languages[chat_id] = locale
        if len(self._languages) > self._limit:
            del self._languages[next(iter(self._languages))]

    def of(self, chat_id: int) -> str:
        return self._languages.get(chat_id, DEFAULT_LOCALE)


class ChatLanguageMiddleware(SimpleI18nMiddleware):
    """aiogram's per-user language, and the chat's last-seen one remembered for later."""

    def __init__(self, i18n: I18n, chats: ChatLanguages) -> None:
        super().__init__(i18n)
        self._chats = chats

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        locale = DEFAULT_LOCALE
        if user is not None and user.language_code:
            locale = await super().get_locale(event, data)
        chat = data.get("event_chat")
        if chat is not None and user is not None:
            self._chats.seen(chat.id, locale)
        return locale


@dataclass(frozen=True)
class ChatSpeech:
    """What a message sent outside an update is written in: the chat's last-seen language."""

    i18n: I18n
    languages: ChatLanguages

    def in_chat(self, chat_id: int) -> contextlib.AbstractContextManager[None]:
        return speaking(self.i18n, self.languages.of(chat_id))


def in_chat(speech: ChatSpeech | None, chat_id: int) -> contextlib.AbstractContextManager[None]:
    """Texts built inside are in ``chat_id``'s language (English without ``speech``)."""
    return contextlib.nullcontext() if speech is None else speech.in_chat(chat_id)


@contextlib.contextmanager
def speaking(i18n: I18n | None, locale: str) -> Iterator[None]:
    """Texts built inside are in ``locale`` (for messages sent outside an update)."""
    if i18n is None:
        yield
        return
    with i18n.context(), i18n.use_locale(locale):
        yield
