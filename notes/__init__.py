"""Written notes: the transcript made into clean text, a summary, to-dos or minutes by a
language model the owner chooses (any OpenAI-compatible chat-completions endpoint).

May import: ``runtime``, ``sessions`` and ``library`` (``/ask`` reads the library's
passages); never ``transcription``, ``processing`` or ``bot``.

The bot builds a :class:`~notes.service.NoteService` when ``LLM_BASE_URL`` is set and
delivers what it hands over; the transcript never waits for it.
Import from the modules (``notes.settings``, ``notes.styles``, ``notes.service``): importing
``notes.settings`` alone loads no HTTP client.
"""
