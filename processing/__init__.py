"""The optional stage after transcription: TRANSCRIBED -> PROCESSING -> PROCESSED.

A processor (``PROCESSOR``: the built-in markdown writer, or an external command) turns a
transcribed session into files in its ``process/output/``. May import: ``runtime``,
``sessions`` and ``library`` (the layers below); never ``transcription``, ``notes`` or
``bot``, never Telegram or Whisper.
"""

from processing.processors import (
    CommandProcessor,
    MarkdownProcessor,
    Processor,
    ProcessorError,
    build_processor,
)
from processing.service import ProcessingService
from processing.settings import ProcessingSettings

__all__ = [
    "CommandProcessor",
    "MarkdownProcessor",
    "ProcessingService",
    "ProcessingSettings",
    "Processor",
    "ProcessorError",
    "build_processor",
]
