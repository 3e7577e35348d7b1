# TEMPORARY STUB (not committed)
from __future__ import annotations
import asyncio
from sessions.settings import ProjectSettings
class RetentionSettings(ProjectSettings):
    audio_retention_days: int | None = None
    session_retention_days: int | None = None
class RetentionSweeper:
    def __init__(self, manager, settings) -> None: ...
    async def sweep(self) -> None: ...
    async def run(self) -> None:
        await asyncio.Event().wait()
