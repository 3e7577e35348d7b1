"""The Telegram bot (aiogram) and the composition root (:mod:`bot.app`).

Owns everything Telegram: handlers, middlewares, the update journal and ordering, the texts
the bot sends, and the start-up that builds every part from the settings and wires them.

May import every package below it: ``runtime``, ``sessions``, ``library``,
``transcription``, ``processing`` and ``notes``. Nothing imports ``bot``.
"""
