"""What every entry point needs at run time, whatever it runs.

Owns the settings base every package's settings derive from (``settings``:
:class:`~runtime.settings.ProjectSettings`), the structlog set-up of every process
(``log_setup``), secret redaction (``redaction``: bot token and LLM key never reach a log,
a chat or a child process) and the duration format (``formatting``).

May import: the standard library, pydantic, pydantic-settings and structlog only. The
bottom layer: no package of this project.
"""
