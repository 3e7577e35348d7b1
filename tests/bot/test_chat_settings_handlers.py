"""/lang, /vocab, their /status lines and /forget all, fed in-process through the real
dispatcher, with the real session manager, the real SQLite library and the fake Bot API
(no model): what is stored, what is refused and said, each chat kept to its own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram import Bot

from bot import chat_settings_texts as ct
from bot import texts
from bot.callbacks import ForgetAllButton
from bot.handlers import chat_settings as chat_settings_handlers
from bot.handlers.chat_settings import FORGET_ALL_VALID_SECONDS, parse_language, parse_words
from bot.services.language import LanguageSupport
from bot.texts import MESSAGE_LIMIT
from library.index import LibraryError, SessionLibrary, library_path
from sessions import ChatSettings, FileSessionManager, Session, SessionState
from sessions.chat_settings import MemoryChatSettings
from tests.bot.test_handlers import CHAT, USER, Harness
from tests.bot.test_handlers import harness as harness  # the fixture, reused
from tests.bot.test_library_handlers import OTHER, last_sent, tap, transcribed_session

pytestmark = pytest.mark.timeout(60)

MULTILINGUAL = LanguageSupport(multilingual=True, default_language=None)


@pytest.fixture
async def library(
    harness: Harness, manager: FileSessionManager, sessions_dir: Path, bot: Bot
) -> AsyncIterator[SessionLibrary]:
    library = SessionLibrary(library_path(sessions_dir), manager)
    await library.open()
    await library.wait_idle()  # the new index made (in the background)
    manager.use_chat_settings(library)
    harness.dp["library"] = library
    yield library
    await library.close()


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "setting"),
    [
        ("de", "de"),
        (" DE ", "de"),
        ("German", "de"),
        ("yue", "yue"),
        ("auto", "auto"),
        ("detect", "auto"),
        ("default", None),
        ("reset", None),
    ],
)
def test_languages_are_read_as_codes_names_or_words(typed: str, setting: str | None) -> None:
    assert parse_language(typed) == setting


@pytest.mark.parametrize("typed", ["xx", "de-DE", "klingon", "", "english please"])
def test_what_names_no_language_is_refused(typed: str) -> None:
    assert isinstance(parse_language(typed), ValueError)


def test_words_are_split_at_commas_semicolons_and_lines() -> None:
    assert parse_words("Kubernetes, Zoë  Ortega;Grafana\n, ,PostgreSQL ") == [
        "Kubernetes",
        "Zoë Ortega",
        "Grafana",
        "PostgreSQL",
    ]
    assert parse_words(" , ;") == []


# -- /lang -------------------------------------------------------------------------------------


async def test_lang_with_a_multilingual_model(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    harness.dp["language_support"] = MULTILINGUAL
    await harness.text("/lang")
    menu = last_sent(harness.fake, CHAT)
    assert menu.text == ct.lang_status(ChatSettings(), None)
    labels = dict(menu.buttons())
    assert labels["German"] == "lang:de"

    await harness.text("/lang french")
    assert harness.replies()[-1] == ct.lang_set("fr", None)
    assert (await manager.get_chat_settings(CHAT)).language == "fr"
    await harness.text("/lang xx")
    assert harness.replies()[-1] == ct.lang_unknown("xx")
    assert (await manager.get_chat_settings(CHAT)).language == "fr"  # unchanged

    answer = await tap(harness, CHAT, USER, menu, labels["Recognise each note"])
    assert answer["show_alert"] is False
    assert (await manager.get_chat_settings(CHAT)).language == "auto"
    assert (await manager.get_chat_settings(OTHER)).language is None
    await harness.text("/lang list")
    assert "de German" in harness.replies()[-1]


async def test_lang_with_an_english_only_model_says_so_and_stores_nothing(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    for typed in ("/lang", "/lang de", "/lang auto"):
        await harness.text(typed)
        assert harness.replies()[-1] == ct.ENGLISH_ONLY
        assert last_sent(harness.fake, CHAT).buttons() == []
    assert await manager.get_chat_settings(CHAT) == ChatSettings()
    # A choice left from a multilingual model is named, and can be forgotten.
    await manager.update_chat_settings(CHAT, lambda s: s.with_language("de"))
    await harness.text("/lang")
    assert "this chat's choice, German (de), waits for" in harness.replies()[-1]
    assert "\n" not in harness.replies()[-1]  # one line
    for typed in ("/lang list", "/lang fr"):
        await harness.text(typed)
        assert harness.replies()[-1] == ct.lang_english_only(ChatSettings(language="de"))
    await harness.text("/lang default")
    assert (await manager.get_chat_settings(CHAT)).language is None


async def test_an_old_language_button_on_an_english_only_model_does_nothing(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    harness.dp["language_support"] = MULTILINGUAL
    await harness.text("/lang")
    menu = last_sent(harness.fake, CHAT)
    harness.dp["language_support"] = LanguageSupport(multilingual=False)  # the owner changed it
    answer = await tap(harness, CHAT, USER, menu, dict(menu.buttons())["German"])
    assert answer["text"] is not None
    assert (await manager.get_chat_settings(CHAT)).language is None


class WritesFail:
    """A chat-settings store whose reads work and whose writes fail, as the library's
    database does when its disk fails under it."""

    async def load_chat_settings(self, chat_id: int) -> ChatSettings | None:
        return None

    async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        raise LibraryError("the search index failed: disk I/O error")

    async def delete_chat_settings(self, chat_id: int) -> bool:
        raise LibraryError("the search index failed: disk I/O error")


async def test_a_language_that_cannot_be_stored_is_answered(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    harness.dp["language_support"] = MULTILINGUAL
    await harness.text("/lang")
    menu = last_sent(harness.fake, CHAT)
    manager.use_chat_settings(WritesFail())
    await harness.text("/lang de")
    assert harness.replies()[-1] == ct.SETTINGS_UNAVAILABLE
    answer = await tap(harness, CHAT, USER, menu, dict(menu.buttons())["German"])
    assert answer == {"text": ct.SETTINGS_UNAVAILABLE, "show_alert": True}
    assert last_sent(harness.fake, CHAT).text == ct.SETTINGS_UNAVAILABLE  # the menu unedited


# -- /vocab ------------------------------------------------------------------------------------


async def test_vocab_add_remove_clear(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    await harness.text("/vocab")
    assert harness.replies()[-1] == ct.VOCAB_EMPTY
    await harness.text("/vocab add Kubernetes, Zoë Ortega")
    assert harness.replies()[-1].startswith("Added: Kubernetes, Zoë Ortega.")
    await harness.text("/vocab add kubernetes, Grafana")
    assert "Added: Grafana." in harness.replies()[-1]
    assert "Already in the vocabulary: kubernetes." in harness.replies()[-1]
    settings = await manager.get_chat_settings(CHAT)
    assert settings.vocabulary == ("Kubernetes", "Zoë Ortega", "Grafana")
    await harness.text("/vocab")
    assert harness.replies()[-1] == ct.vocabulary(settings)

    await harness.text("/vocab remove grafana, Tchaikovsky")
    assert harness.replies()[-1].startswith(
        "Removed: Grafana.\nNot in the vocabulary: Tchaikovsky."
    )
    await harness.text("/vocab clear")
    assert harness.replies()[-1] == ct.vocab_cleared(("Kubernetes", "Zoë Ortega"))
    assert await manager.get_chat_settings(CHAT) == ChatSettings()


async def test_vocab_over_its_limits_or_without_words_is_refused_and_loses_nothing(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    await harness.text("/vocab add Kubernetes")
    many = ", ".join(f"word{n}" for n in range(60))
    await harness.text(f"/vocab add {many}")
    assert "at most 50" in harness.replies()[-1]
    assert "Nothing was added" in harness.replies()[-1]
    assert "/vocab remove makes room" in harness.replies()[-1]  # a full list: removing helps
    # One word too long: removing others would not help; commas or a shorter form do.
    await harness.text("/vocab add " + "Kubernetes cluster in the Frankfurt data centre " * 2)
    too_long = harness.replies()[-1]
    assert "is too long: at most 60 characters" in too_long
    assert "/vocab remove" not in too_long
    assert "Separate words and names with commas" in too_long
    await harness.text("/vocab add")
    assert harness.replies()[-1] == ct.VOCAB_NOTHING_GIVEN
    await harness.text("/vocab frobnicate Kubernetes")
    assert harness.replies()[-1] == ct.VOCAB_USAGE
    assert (await manager.get_chat_settings(CHAT)).vocabulary == ("Kubernetes",)


async def test_a_long_list_of_words_is_answered_within_telegrams_limit(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    absent = [f"Absent{n:04d}" for n in range(338)]  # the longest message a chat can send
    command = "/vocab remove " + ", ".join(absent)
    assert len(command) <= MESSAGE_LIMIT
    await harness.text(command)
    reply = harness.replies()[-1]
    assert reply == ct.vocab_removed([], absent, ChatSettings())
    assert reply.startswith(f"Not in the vocabulary: {', '.join(absent[:10])} and 328 more.")
    await harness.text("/vocab add Kubernetes")
    await harness.text("/vocab add " + ", ".join(["kubernetes"] * 300))
    assert harness.replies()[-1].startswith("Already in the vocabulary: kubernetes, ")
    assert "and 290 more." in harness.replies()[-1]
    await harness.text("/vocab remove " + "x" * 4000)  # one long word
    assert harness.replies()[-1].startswith(f"Not in the vocabulary: {'x' * 59}….\n")


async def test_status_shows_the_chats_settings(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    harness.dp["language_support"] = LanguageSupport(multilingual=True, default_language="fr")
    await harness.text("/status")
    assert harness.replies()[-1].endswith(
        "Language: the bot's default (French (fr)).\n"
        "Vocabulary: none (/vocab add teaches me names and words)."
    )
    await manager.update_chat_settings(CHAT, lambda s: s.with_language("de").with_words(["Zoë"]))
    await harness.text("/status")
    assert harness.replies()[-1].endswith("Language: German (de).\nVocabulary: Zoë.")


# -- /forget all -------------------------------------------------------------------------------


async def test_forget_all_deletes_the_chats_sessions_and_settings_only(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    kept_busy = await transcribed_session(manager, "", state=SessionState.TRANSCRIBING)
    gone = await transcribed_session(manager, "the walrus")
    others = await transcribed_session(manager, "another chat", chat=OTHER)
    await manager.update_chat_settings(CHAT, lambda s: s.with_words(["Kubernetes"]))
    await manager.update_chat_settings(OTHER, lambda s: s.with_words(["Grafana"]))

    await harness.text("/forget all")
    question = last_sent(harness.fake, CHAT)
    assert question.text == ct.forget_all_question(2, await manager.get_chat_settings(CHAT))
    [(_, yes), (_, no)] = question.buttons()
    await tap(harness, CHAT, USER, question, no)
    assert harness.replies()[-1] == ct.KEPT_ALL
    assert await manager.get_session(gone) is not None

    await harness.text("/forget all")  # the answer took the buttons: asked again
    question = last_sent(harness.fake, CHAT)
    [(_, yes), _] = question.buttons()
    # Yes tapped twice at once: both taps sent before the first answer took the buttons.
    taps = [harness.fake.callback(CHAT, USER, question.message_id or 0, yes) for _ in "12"]
    for update in harness.fake.pending_updates()[-2:]:
        await harness.feed(update)
    first, second = (harness.fake.callback_answers[t] for t in taps)
    assert first == {"text": None, "show_alert": False}
    assert second == {"text": texts.ALREADY_DONE, "show_alert": False}  # a quiet toast
    forgotten = ct.forgot_all(1, 1, settings_removed=True)
    assert harness.replies()[-1] == forgotten  # not replaced by "Forgotten: 0 sessions"
    [shown] = [m for m in harness.fake.messages(CHAT) if m["message_id"] == question.message_id]
    assert (shown["text"], "reply_markup" in shown) == (forgotten, False)
    # A later tap (the message without its buttons, as Telegram sends it) does nothing either.
    assert await tap(harness, CHAT, USER, question, yes) == {
        "text": texts.ALREADY_DONE,
        "show_alert": False,
    }
    assert harness.replies()[-1] == forgotten
    assert await manager.get_session(gone) is None
    assert await manager.get_session(kept_busy) is not None  # still transcribing: kept
    assert await manager.get_chat_settings(CHAT) == ChatSettings()
    assert await manager.get_session(others) is not None
    assert (await manager.get_chat_settings(OTHER)).vocabulary == ("Grafana",)
    assert await library.search(CHAT, "walrus") == []


async def test_an_old_forget_all_question_deletes_nothing(
    harness: Harness,
    library: SessionLibrary,
    manager: FileSessionManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid = await transcribed_session(manager, "the walrus")
    await manager.update_chat_settings(CHAT, lambda s: s.with_words(["Kubernetes"]))
    asked = time.time() - FORGET_ALL_VALID_SECONDS - 5
    with monkeypatch.context() as patch:  # the question was asked long ago
        patch.setattr(chat_settings_handlers, "time", SimpleNamespace(time=lambda: asked))
        await harness.text("/forget all")
    question = last_sent(harness.fake, CHAT)
    [(_, yes), _] = question.buttons()
    assert ForgetAllButton.unpack(yes).asked == asked
    await tap(harness, CHAT, USER, question, yes)
    assert harness.replies()[-1] == ct.FORGET_ALL_EXPIRED
    assert await manager.get_session(sid) is not None
    assert (await manager.get_chat_settings(CHAT)).vocabulary == ("Kubernetes",)


async def _answer_yes(harness: Harness) -> None:
    await harness.text("/forget all")
    question = last_sent(harness.fake, CHAT)
    [(_, yes), _] = question.buttons()
    await tap(harness, CHAT, USER, question, yes)


def _listed_then(
    monkeypatch: pytest.MonkeyPatch,
    manager: FileSessionManager,
    meanwhile: Callable[[], Awaitable[None]],
) -> None:
    """From the next /forget all's Yes on, ``meanwhile`` happens right after the chat's
    sessions are listed (as a worker or a damaged disk would, between the listing and the
    deletions)."""
    listing = manager.list_sessions

    async def listed(*args: Any, **kwargs: Any) -> list[Session]:
        found = await listing(*args, **kwargs)
        await meanwhile()
        return found

    monkeypatch.setattr(manager, "list_sessions", listed)


async def test_forget_all_keeps_what_became_busy_or_unreadable_since_the_listing(
    harness: Harness,
    library: SessionLibrary,
    manager: FileSessionManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gone = await transcribed_session(manager, "the walrus")
    taken = await transcribed_session(manager, "taken by the processing stage")
    damaged = await transcribed_session(manager, "its metadata breaks")
    await manager.update_chat_settings(CHAT, lambda s: s.with_words(["Kubernetes"]))
    await harness.text("/forget all")
    question = last_sent(harness.fake, CHAT)
    [(_, yes), _] = question.buttons()

    async def meanwhile() -> None:
        await manager.transition_state(taken, SessionState.PROCESSING)
        (manager.get_session_path(damaged) / "metadata.json").write_text("{", encoding="utf-8")

    _listed_then(monkeypatch, manager, meanwhile)
    await tap(harness, CHAT, USER, question, yes)
    assert harness.replies()[-1] == ct.forgot_all(1, 1, settings_removed=True, failed=1)
    assert await manager.get_session(gone) is None
    assert (await manager.require_session(taken)).state is SessionState.PROCESSING
    assert manager.get_session_path(damaged).is_dir()
    assert await manager.get_chat_settings(CHAT) == ChatSettings()


async def test_forget_all_with_a_failing_search_index_keeps_the_sessions_and_answers(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    kept = [await transcribed_session(manager, "the walrus") for _ in range(2)]
    manager.use_chat_settings(MemoryChatSettings())  # the settings elsewhere: they go
    await manager.update_chat_settings(CHAT, lambda s: s.with_words(["Kubernetes"]))
    await library.close()  # as if the index's database failed while the bot runs
    await _answer_yes(harness)
    assert harness.replies()[-1] == ct.forgot_all(0, 0, settings_removed=True, failed=2)
    for sid in kept:
        assert await manager.get_session(sid) is not None
    assert await manager.get_chat_settings(CHAT) == ChatSettings()


async def test_forget_all_whose_settings_cannot_be_removed_deletes_nothing_and_says_so(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    sid = await transcribed_session(manager, "the walrus")
    await library.index_session(sid)
    manager.use_chat_settings(WritesFail())
    await _answer_yes(harness)
    assert harness.replies()[-1] == ct.FORGET_ALL_UNAVAILABLE
    assert await manager.get_session(sid) is not None
    assert await library.search(CHAT, "walrus") != []


async def test_forget_all_keeps_the_sessions_begun_after_the_question(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    asked_about = await transcribed_session(manager, "the walrus")
    await harness.text("/forget all")
    question = last_sent(harness.fake, CHAT)
    assert question.text == ct.forget_all_question(1, ChatSettings())
    [(_, yes), _] = question.buttons()
    await harness.voice()  # a new session, open when Yes is tapped
    since = await manager.get_active_session(CHAT)
    assert since is not None
    await tap(harness, CHAT, USER, question, yes)
    assert harness.replies()[-1] == ct.forgot_all(1, 0, settings_removed=False, newer=1)
    assert await manager.get_session(asked_about) is None
    assert await manager.get_session(since.session_id) is not None
