"""The library: everything a chat keeps across its sessions, above the session core.

Owns the search index over the finished sessions' transcripts and notes (``index``:
:class:`SessionLibrary`, SQLite FTS5, with its database ``db``, files ``files``, query
``query``, upkeep ``upkeep``, the passages ``/ask`` quotes ``passages`` and the optional
vectors ``vectors``), the chats' settings in their own SQLite file
(``chat_settings_store``: the implementation of ``sessions.chat_settings.ChatSettingsStore``;
the :class:`~sessions.ChatSettings` model itself is a contract type and stays in
``sessions``) and retention (``retention``: which old sessions' audio and folders go).

May import: ``runtime`` and ``sessions`` (its public face, plus the storage helpers
``sessions.storage``/``sessions.layout`` for the library folder's file modes and atomic
writes). Never imports ``transcription``, ``processing``, ``notes`` or ``bot``: those
import the library.
"""

from library.index import LibraryError, SearchHit, SessionLibrary, library_path
from library.query import Fragment
from library.retention import RetentionSettings, RetentionSweeper, SweepReport

__all__ = [
    "Fragment",
    "LibraryError",
    "RetentionSettings",
    "RetentionSweeper",
    "SearchHit",
    "SessionLibrary",
    "SweepReport",
    "library_path",
]
