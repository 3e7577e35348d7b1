"""/status in words: the open session, the recent ones and their states, in the current
update's language (:mod:`bot.i18n`)."""

from __future__ import annotations

from datetime import UTC, tzinfo

from bot.i18n import N_, _
from bot.texts import notes, zone_note
from runtime.formatting import format_duration
from sessions import Session


def status(
    active: tuple[Session, str] | None,
    recent: list[tuple[Session, str]],
    processor: str | None = None,
    zone: tzinfo = UTC,
) -> str:
    """/status: the open session and the recent ones, each as (session, label)."""
    lines = []
    if active is None:
        lines.append(_("No session is open. Send a voice note to start one."))
    else:
        session, label = active
        lines.append(
            _("Open session: {label}; {notes}, {duration} ({zone}).").format(
                label=label,
                notes=notes(len(session.audio_entries)),
                duration=format_duration(session.total_duration_seconds),
                zone=zone_note(zone),
            )
        )
    if recent:
        lines.append("")
        # The zone is said once: with the open session when there is one.
        if active:
            lines.append(_("Recent sessions:"))
        else:
            lines.append(_("Recent sessions ({zone}):").format(zone=zone_note(zone)))
        for session, label in recent:
            lines.append(
                _("- {label}: {state}, {notes}, {duration}").format(
                    label=label,
                    state=state_name(session),
                    notes=notes(len(session.audio_entries)),
                    duration=format_duration(session.total_duration_seconds),
                )
            )
    if processor:  # with none set up there is nothing to say
        lines.append("")
        lines.append(_("After transcription: {processor} processing.").format(processor=processor))
    return "\n".join(lines)


_STATES = {
    "collecting": N_("collecting"),
    "transcribing": N_("transcribing"),
    "transcribed": N_("transcribed"),
    "processing": N_("processing"),
    "processed": N_("processed"),
    "error": N_("error"),
}


def state_name(session: Session) -> str:
    """A session's state in words (the state's own name, lower case, in English)."""
    name = session.state.value.lower()
    return _(_STATES[name]) if name in _STATES else name
