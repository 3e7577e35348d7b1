"""Break each promise of the README on purpose, one at a time, and show that a test catches it.

Each :class:`Mutation` names a promise, the code that keeps it (a file and an exact snippet),
a broken version of that snippet, and the tests that guard the promise. For every mutation the
script exports the committed tree (``git archive HEAD``) into a temporary folder, applies that
one change, runs the guarding tests there with this virtual environment's Python, and expects
them to FAIL. A mutation whose tests still pass is a promise nothing protects: the script
exits 1 and names it.

    .venv/bin/python scripts/mutation_check.py            # every mutation
    .venv/bin/python scripts/mutation_check.py --list     # the promises and their guards
    .venv/bin/python scripts/mutation_check.py retry-429  # only the ones named

It is not part of ``.ci/run``: it runs the guarding tests once per mutation (several minutes).
A snippet that no longer matches the code is reported as STALE (exit 1), so the list cannot
silently rot when the code changes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Edit:
    """Replace ``original`` (which must occur exactly once) in ``path`` with ``broken``."""

    path: str
    original: str
    broken: str


@dataclass(frozen=True)
class Mutation:
    """One promise broken on purpose (one or more edits that together break it)."""

    name: str
    promise: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]


E2E = "tests/bot/test_e2e.py::"
FAULTS = "tests/bot/test_update_faults.py::"
LIVE = "tests/transcription/test_live.py::"
SCHED = "tests/transcription/test_scheduler.py::"
LIB = "tests/bot/test_library_handlers.py::"
OPTS = "tests/transcription/test_chat_options.py::"
NOTES = "tests/bot/test_notes_handlers.py::"

MUTATIONS: tuple[Mutation, ...] = (
    # -- Nothing lost, nothing doubled -------------------------------------------------------
    Mutation(
        "confirm-in-flight",
        "an update is confirmed to Telegram only once it is on disk in the inbox",
        (
            Edit(
                "bot/updates/polling.py",
                "        await self._inbox.store(raw for raw in fresh if _update_id(raw) is not None)",
                "        asyncio.ensure_future(\n"
                "            self._inbox.store(raw for raw in fresh if _update_id(raw) is not None)\n"
                "        )",
            ),
        ),
        (
            "tests/bot/test_polling.py::"
            "test_an_update_is_confirmed_only_once_it_is_on_disk_in_the_inbox",
        ),
    ),
    Mutation(
        "inbox-resume",
        "updates held in the inbox at a crash are handled at the next start, once",
        (
            Edit(
                "bot/updates/polling.py",
                "self._runner.take_over(held)",
                "self._runner.take_over([])",
            ),
        ),
        (
            "tests/bot/test_inbox.py::"
            "test_a_crash_between_storing_and_handling_runs_the_update_once_at_the_next_start",
            "tests/bot/test_e2e_inbox.py",
        ),
    ),
    Mutation(
        "inbox-bounded",
        "the inbox holds at most its limit; when full, nothing more is fetched",
        (
            Edit(
                "bot/updates/polling.py",
                "room = min(self._inbox.room, MAX_BATCH)",
                "room = MAX_BATCH",
            ),
        ),
        ("tests/bot/test_inbox.py::test_a_full_inbox_fetches_nothing_more_until_room_is_made",),
    ),
    Mutation(
        "journal-skip",
        "an update handled before a crash is not handled again when it comes back",
        (
            Edit(
                "bot/updates/runner.py",
                "return not self.journal.is_handled(update_id)",
                "return True",
            ),
        ),
        ("tests/bot/test_polling.py::test_handled_update_redelivered_after_a_crash_is_skipped",),
    ),
    Mutation(
        "duplicate-note",
        "a note already stored is recognised by its message id (stored and answered once)",
        (Edit("bot/services/ingest.py", "if existing is not None:", "if False:"),),
        ("tests/bot/test_handlers.py::test_duplicate_message_is_stored_once_and_acked_once",),
    ),
    Mutation(
        "part-file",
        "a download is written under a temporary name and renamed only when complete",
        (
            Edit(
                "sessions/folder.py",
                "self.path / AUDIO_DIR / partial_name(filename), self.audio_path(filename)",
                "self.audio_path(filename), self.audio_path(filename)",
            ),
        ),
        (
            "tests/bot/test_e2e_ingest_faults.py::"
            "test_kill_mid_download_leaves_no_file_under_the_final_name",
        ),
    ),
    Mutation(
        "send-order",
        "notes are numbered in the order they were sent, whatever order downloads finish in",
        (
            Edit(
                "bot/updates/ordering.py",
                "                await other.admitted.wait()",
                "                pass",
            ),
        ),
        ("tests/bot/test_ordering.py", "tests/bot/test_ingest_burst.py"),
    ),
    Mutation(
        "done-waits",
        "/done waits for earlier notes of its chat to be stored",
        (
            Edit(
                "bot/updates/ordering.py",
                "                await other.finished.wait()",
                "                pass",
            ),
        ),
        ("tests/bot/test_done_ordering.py",),
    ),
    Mutation(
        "journal-before-confirm",
        "an update leaves the inbox only once its journal entry is on disk",
        (
            Edit(
                "bot/updates/runner.py",
                "        await self.journal.record(update_id)\n"
                "        if self.inbox is not None:\n"
                "            await self.inbox.remove(update_id)\n",
                "        if self.inbox is not None:\n"
                "            await self.inbox.remove(update_id)\n"
                "        await self.journal.record(update_id)\n",
            ),
        ),
        (
            "tests/bot/test_polling.py::"
            "test_an_update_leaves_the_inbox_only_once_its_journal_write_is_durable",
        ),
    ),
    Mutation(
        "turn-after-journal",
        "a chat's next command waits until the update before it is in the journal on disk",
        (
            Edit(
                "bot/updates/runner.py",
                "            self.journal.mark(uid)  # a poll answered meanwhile must skip it\n",
                "            self.journal.mark(uid)  # a poll answered meanwhile must skip it\n"
                "            self.ordering.finish(ticket)\n",
            ),
        ),
        (
            "tests/bot/test_runner_turns.py::"
            "test_done_waits_until_the_note_before_it_is_in_the_journal",
        ),
    ),
    Mutation(
        "resume-transcribing",
        "a session left half-transcribed is resumed at start-up",
        (
            Edit(
                "transcription/service.py",
                "        for session in resumable:\n            order = self._start_finisher(",
                "        for session in resumable[:0]:\n            order = self._start_finisher(",
            ),
        ),
        (
            "tests/transcription/test_worker.py::test_worker_service_queues_sessions_and_resumes_at_start",
        ),
    ),
    Mutation(
        "finished-not-redone",
        "notes already transcribed are not transcribed again after a restart",
        (
            Edit(
                "transcription/pipeline.py",
                "        return not folder.has_transcript_text(entry.transcript_filename)",
                "        return True",
            ),
        ),
        ("tests/transcription/test_worker.py::test_resume_after_crash_redoes_only_unfinished",),
    ),
    Mutation(
        "resume-delivery",
        "a transcript that was not delivered is delivered at the next start",
        (
            Edit(
                "bot/services/notifier.py",
                "            if session.delivered_at is None or outputs_due:",
                "            if False:",
            ),
        ),
        ("tests/bot/test_notifier.py", E2E + "test_kill_during_transcription_then_restart"),
    ),
    Mutation(
        "delivery-once",
        "a restart sends only the parts of a delivery that had not arrived",
        (
            Edit(
                "bot/services/delivery.py",
                "            if not session.delivery.done(part.key):",
                "            if True:",
            ),
        ),
        ("tests/bot/test_delivery.py::test_restart_after_part_one_of_three_sends_only_the_rest",),
    ),
    Mutation(
        "get-bounded",
        "/get gives up after a few tries and says so, instead of retrying without end",
        (
            Edit(
                "bot/services/delivery.py",
                "if attempts is not None and attempt >= attempts:",
                "if False:",
            ),
        ),
        (
            "tests/bot/test_get_retries.py::"
            "test_get_gives_up_after_a_few_tries_and_says_to_ask_again",
        ),
    ),
    Mutation(
        "retry-429",
        "a 429 is waited out for its retry_after",
        (
            Edit(
                "bot/middlewares/retry.py",
                "delay: float = min(float(exc.retry_after), self.max_delay)",
                "delay: float = 0.0",
            ),
        ),
        ("tests/bot/test_retry.py::test_429_is_waited_out_for_its_retry_after",),
    ),
    Mutation(
        "retry-5xx",
        "5xx and network errors of API calls are retried",
        (
            Edit(
                "bot/middlewares/retry.py",
                "if attempt >= self.attempts or _is_invalid_json_answer(exc):",
                "if True:",
            ),
        ),
        ("tests/bot/test_retry.py",),
    ),
    Mutation(
        "retry-doubling",
        "the retry delay of API calls doubles",
        (
            Edit(
                "bot/middlewares/retry.py",
                "delay = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)",
                "delay = min(self.base_delay, self.max_delay)",
            ),
        ),
        ("tests/bot/test_retry.py::test_server_errors_are_retried_with_a_doubling_delay",),
    ),
    Mutation(
        "poll-backoff",
        "the poller backs off with a doubling delay",
        (
            Edit(
                "bot/updates/connect.py",
                "self.current = min(self.current * 2, self.cap)",
                "self.current = min(self.current, self.cap)",
            ),
        ),
        (FAULTS + "test_poller_backoff_doubles",),
    ),
    Mutation(
        "poll-survives",
        "5xx, HTML pages and 409 answers do not stop polling",
        (
            Edit(
                "bot/updates/polling.py",
                "            except AiogramError as exc:\n                delay = self._backoff.next()",
                "            except ZeroDivisionError as exc:\n                delay = self._backoff.next()",
            ),
        ),
        (FAULTS + "test_html_and_conflict_answers_do_not_stop_polling",),
    ),
    Mutation(
        "poison-update",
        "an update the client cannot parse is logged and skipped; every other is handled",
        (
            Edit(
                "bot/updates/runner.py",
                "        except ValidationError as exc:",
                "        except ZeroDivisionError as exc:",
            ),
        ),
        (FAULTS + "test_poison_update_is_logged_and_skipped_while_others_are_handled",),
    ),
    Mutation(
        "ids-restart-lower",
        "update ids that restart lower are handled, not skipped",
        (
            Edit(
                "bot/updates/polling.py",
                "                self._next_offset = max(ids) + 1\n",
                "                pass\n",
            ),
        ),
        (FAULTS + "test_update_ids_restarting_lower_are_handled",),
    ),
    Mutation(
        "sigterm-bounded",
        "SIGTERM exits within the grace period plus a few seconds when Telegram hangs",
        (
            Edit(
                "bot/updates/polling.py",
                "                await asyncio.wait_for(\n                    self._bot(request, request_timeout=int(SHUTDOWN_CALL_SECONDS) + 1),\n                    SHUTDOWN_CALL_SECONDS,\n                )",
                "                await self._bot(request, request_timeout=600)",
            ),
            Edit(
                "bot/app.py",
                "timer = threading.Timer(deadline_seconds, _exit_now)",
                "timer = threading.Timer(deadline_seconds * 100, _exit_now)",
            ),
        ),
        (
            "tests/bot/test_e2e_faults.py::"
            "test_sigterm_exits_fast_when_the_server_hangs_and_the_note_comes_again",
        ),
    ),
    Mutation(
        "webhook-secret",
        "the webhook checks the secret token on every request",
        (
            Edit(
                "bot/updates/webhook.py",
                "if not hmac.compare_digest(given, self._secret):",
                "if False:",
            ),
        ),
        ("tests/bot/test_webhook.py",),
    ),
    Mutation(
        "webhook-stops-first",
        "at a stop the webhook takes no new update before it drains the ones in flight",
        (
            Edit(
                "bot/updates/webhook.py",
                "        server.closing = True\n        await site.stop()\n",
                "",
            ),
        ),
        (
            "tests/bot/test_webhook_shutdown.py::"
            "test_a_stop_takes_no_new_update_and_ends_once_the_one_in_flight_is_handled",
        ),
    ),
    Mutation(
        "webhook-answers-when-stored",
        "the webhook answers Telegram only once the update is handled",
        (
            Edit(
                "bot/updates/webhook.py",
                "                await asyncio.shield(task)",
                "                pass",
            ),
        ),
        ("tests/bot/test_webhook.py",),
    ),
    # -- Access control ---------------------------------------------------------------------
    Mutation(
        "access",
        "only ALLOWED_USER_IDS may use the bot; nothing of a stranger is downloaded",
        (Edit("bot/config.py", "return self.anyone or user_id in self.user_ids", "return True"),),
        (
            "tests/bot/test_handlers.py::test_stranger_gets_their_id_and_nothing_is_stored",
            E2E + "test_stranger_refused_and_nothing_stored",
        ),
    ),
    # -- Limits -----------------------------------------------------------------------------
    Mutation(
        "limit-duration",
        "a note declared longer than MAX_AUDIO_DURATION_SECONDS is refused before download",
        (
            Edit(
                "bot/services/ingest.py",
                "if audio.duration_seconds > self.max_duration_seconds:",
                "if False:",
            ),
        ),
        ("tests/bot/test_handlers.py::test_too_long_is_refused_without_download",),
    ),
    Mutation(
        "limit-size",
        "a file declared larger than MAX_DOWNLOAD_BYTES is refused before download",
        (
            Edit(
                "bot/services/ingest.py",
                "if audio.file_size is not None and audio.file_size > self.max_download_bytes:",
                "if False:",
            ),
        ),
        ("tests/bot/test_handlers.py::test_too_big_is_refused_without_download",),
    ),
    Mutation(
        "limit-streamed-bytes",
        "a file with no declared size is cut off at MAX_DOWNLOAD_BYTES while streaming",
        (
            Edit(
                "bot/services/ingest.py",
                "                if received > self.max_download_bytes:",
                "                if False:",
            ),
        ),
        ("tests/bot/test_ingest_faults.py::test_undeclared_size_is_capped_while_streaming",),
    ),
    Mutation(
        "limit-measured-duration",
        "the measured duration, not the declared one, decides",
        (
            Edit(
                "bot/services/ingest.py",
                "if measured > self.max_duration_seconds:",
                "if False:",
            ),
        ),
        ("tests/bot/test_ingest_faults.py::test_measured_duration_beats_the_declared_one",),
    ),
    Mutation(
        "no-audio-refused",
        "a file with no readable audio is refused at download, with its own reply",
        (
            Edit(
                "bot/services/ingest.py",
                "            if measured is None:  # damaged",
                "            if measured is None and False:  # damaged",
            ),
        ),
        (
            "tests/bot/test_ingest_faults.py::test_a_file_with_no_readable_audio_is_refused_at_once",
            E2E + "test_a_damaged_file_is_refused_at_once_even_across_a_crash",
        ),
    ),
    Mutation(
        "question-answered-once",
        "a question's second Yes (sent before the first took the buttons) does nothing",
        (
            Edit(
                "bot/middlewares/questions.py",
                "if key in self._answered or not _shows(event, message):",
                "if not _shows(event, message):",
            ),
        ),
        (
            "tests/bot/test_chat_settings_handlers.py::"
            "test_forget_all_deletes_the_chats_sessions_and_settings_only",
            "tests/bot/test_e2e_chat_flow.py",
        ),
    ),
    # -- Written notes in the chat -----------------------------------------------------------
    Mutation(
        "note-delivered-once",
        "a written note's messages are recorded as sent: a second hand-over sends nothing again",
        (
            Edit(
                "bot/services/notes.py",
                "await self._courier.send_all(session, note_parts(note))",
                "await self._courier.resend(session, note_parts(note))",
            ),
        ),
        (NOTES + "test_a_written_note_is_delivered_once_even_across_a_restart",),
    ),
    Mutation(
        "note-tap-chat-isolation",
        "a note button naming another chat's session writes and sends nothing",
        (
            Edit(
                "bot/handlers/notes.py",
                "session = None if chat_id is None else await chat_session(manager, chat_id, session_id)",
                "session = await manager.get_session(session_id)",
            ),
        ),
        (NOTES + "test_a_tap_on_another_chats_or_a_forgotten_session_is_refused",),
    ),
    Mutation(
        "note-buttons-only-with-a-model",
        "without a language model, /get's transcript has no note buttons",
        (Edit("bot/handlers/library.py", "buttons = notes is not None", "buttons = True"),),
        (NOTES + "test_without_a_model_there_are_no_buttons_and_style_says_why",),
    ),
    # -- Secrets ----------------------------------------------------------------------------
    Mutation(
        "processor-env",
        "a processor command does not inherit the bot's secrets",
        (
            Edit(
                "processing/command.py",
                "if name in INHERITED or name.startswith(INHERITED_PREFIXES) or name in self.pass_env",
                "if True",
            ),
        ),
        ("tests/processing/test_command_safety.py::test_command_environment_is_an_allow_list",),
    ),
    Mutation(
        "llm-key-never-passed",
        "LLM_API_KEY never reaches a processor, not even when PROCESSOR_ENV names it",
        (
            Edit(
                "processing/settings.py",
                '"REDIS_URL", "LLM_API_KEY"}',
                '"REDIS_URL"}',
            ),
        ),
        (
            "tests/processing/test_command_safety.py::"
            "test_processor_env_never_names_the_bots_secrets",
        ),
    ),
    Mutation(
        "no-pickle",
        "nothing read from Redis is unpickled",
        (
            Edit(
                "transcription/broker.py",
                "    return broker.with_result_backend(backend).with_serializer(JSONSerializer())",
                "    return broker.with_result_backend(backend)",
            ),
            Edit(
                "transcription/results.py",
                "            serializer=JSONSerializer(),  # taskiq-redis's default is pickle: code execution",
                "",
            ),
        ),
        (
            "tests/transcription/test_queue_faults.py::test_a_pickled_result_is_refused_never_executed",
        ),
    ),
    # -- Live transcription --------------------------------------------------------------------
    Mutation(
        "live-one-run",
        "a note is never transcribed twice: /done joins the run of a note being transcribed live",
        (
            Edit(
                "transcription/scheduler.py",
                "        job = self._jobs.get(key)\n        if job is None:",
                "        job = self._jobs.get(key)\n        if True:",
            ),
        ),
        (
            LIVE + "test_done_waits_for_the_note_being_transcribed_live_not_a_second_run",
            SCHED + "test_an_entry_has_one_run_queued_or_running",
        ),
    ),
    Mutation(
        "live-finalized-first",
        "notes of finished sessions are transcribed before notes of open sessions",
        (Edit("transcription/scheduler.py", "_FINALIZED_TIER = 0", "_FINALIZED_TIER = 2"),),
        (
            LIVE + "test_a_finalized_session_goes_before_live_notes",
            SCHED + "test_finalized_entries_go_before_queued_live_entries",
        ),
    ),
    Mutation(
        "live-resume",
        "a note of an open session cut off by a crash is transcribed again at the next start",
        (
            Edit(
                "transcription/service.py",
                "                        self.queue_live(session.session_id, entry.sequence)",
                "                        pass",
            ),
        ),
        (LIVE + "test_restart_resumes_unfinished_live_notes_and_redoes_nothing_finished",),
    ),
    # -- The session library -------------------------------------------------------------------
    Mutation(
        "library-chat-isolation",
        "a chat cannot see, get or forget another chat's session by its id",
        (
            Edit(
                "bot/services/lookup.py",
                "    return session if session is not None and session.chat_id == chat_id else None",
                "    return session",
            ),
        ),
        (LIB + "test_another_chats_session_is_answered_like_an_unknown_id",),
    ),
    Mutation(
        "library-find-isolation",
        "/find searches only the chat's own transcripts",
        (
            Edit(
                "library/db.py",
                "    WHERE notes_text MATCH ? AND t.rowid >= ? AND n.chat_id = ?",
                "    WHERE notes_text MATCH ? AND t.rowid >= ? AND (n.chat_id = ? OR 1)",
            ),
        ),
        ("tests/library/test_library.py::test_a_chat_sees_only_its_own_notes",),
    ),
    Mutation(
        "library-stranger-tap",
        "a button tapped by a stranger is refused and does nothing",
        (Edit("bot/app.py", "    dp.callback_query.outer_middleware(access)\n", ""),),
        (LIB + "test_a_strangers_tap_is_refused_and_does_nothing",),
    ),
    Mutation(
        "library-local-time",
        "/get and /forget name a session by the local date and time it was recorded",
        (
            Edit(
                "bot/services/lookup.py",
                "    when = parse_when(typed, now.astimezone(zone).date())",
                "    when = None",
            ),
        ),
        (
            "tests/bot/test_e2e_labels.py",
            LIB + "test_short_forms_of_an_id",
        ),
    ),
    Mutation(
        "library-buttons-told-apart",
        "buttons of two sessions begun in the same minute are told apart by their seconds",
        (
            Edit(
                "bot/session_labels.py",
                "shared = minutes[_minute(session, zone)] > 1",
                "shared = False",
            ),
        ),
        (
            "tests/bot/test_session_labels.py::"
            "test_buttons_fit_a_phone_and_tell_two_sessions_of_one_minute_apart",
        ),
    ),
    # -- Who said what -----------------------------------------------------------------------
    Mutation(
        "speaker-recorded",
        "each note records its speaker: the group member, or a forward's original sender",
        (Edit("bot/services/ingest.py", "speaker=audio.origin.speaker,", "speaker=None,"),),
        (
            "tests/bot/test_handlers.py::test_group_members_and_forwards_are_recorded_as_speakers",
            "tests/bot/test_e2e_speakers.py",
        ),
    ),
    Mutation(
        "speaker-labels-only-when-needed",
        "one person's own notes read as before: labels only for several speakers or a forward",
        (Edit("sessions/speakers.py", "return len(speakers) > 1", "return len(speakers) > 0"),),
        (
            "tests/processing/test_speaker_labels.py::test_one_persons_notes_read_exactly_as_before",
            "tests/bot/test_speakers.py::test_one_persons_notes_read_as_before",
        ),
    ),
    Mutation(
        "speaker-labels-written",
        "process/input.txt labels each note with its speaker when the session is labelled",
        (
            Edit(
                "transcription/pipeline.py",
                "paragraphs.append(labelled_line(labels.get(entry.sequence), text))",
                "paragraphs.append(text)",
            ),
        ),
        (
            "tests/processing/test_speaker_labels.py::"
            "test_group_notes_are_labelled_in_every_written_transcript",
        ),
    ),
    # -- A chat's own settings ---------------------------------------------------------------
    Mutation(
        "settings-reach-the-model",
        "each note is transcribed with its own chat's language and vocabulary",
        (
            Edit(
                "transcription/pipeline.py",
                "    options = await chat_options(manager, session.chat_id)",
                "    options = DEFAULT_OPTIONS",
            ),
        ),
        (OPTS + "test_each_note_is_transcribed_with_its_own_chats_settings",),
    ),
    Mutation(
        "settings-over-the-queue",
        "a job carries its chat's settings to the worker",
        (
            Edit(
                "transcription/queue.py",
                "            job = make_job(audio, path.name, self.settings, options)",
                "            job = make_job(audio, path.name, self.settings)",
            ),
        ),
        (OPTS + "test_a_jobs_chat_settings_reach_the_worker_over_redis",),
    ),
    Mutation(
        "rebuild-beside-the-live-file",
        "a rebuild of the search index leaves the live file as it was until the new one is complete",
        (
            Edit(
                "library/db.py",
                "        spare = self._spare\n",
                "        spare = self.path\n",
            ),
        ),
        (
            "tests/library/test_library_repair.py::test_a_rebuild_killed_part_of_the_way_leaves_the_live_file_and_settings",
        ),
    ),
    Mutation(
        "settings-moved-out-of-the-index",
        "the chats' settings of an older index move to their own file before the index drops them",
        (
            Edit(
                "library/chat_settings_store.py",
                "        rows = legacy_rows(self._legacy) if self._legacy is not None else []\n",
                "        rows: list[_Row] = []\n",
            ),
        ),
        (
            "tests/sessions/test_chat_settings.py::test_settings_of_an_older_index_move_to_their_own_file_once",
        ),
    ),
    Mutation(
        "forget-all-settings",
        "/forget all removes the chat's settings with its sessions",
        (
            Edit(
                "bot/handlers/chat_settings.py",
                "        settings_removed = await manager.delete_chat_settings(chat_id)",
                "        settings_removed = True",
            ),
        ),
        (
            "tests/bot/test_chat_settings_handlers.py::test_forget_all_deletes_the_chats_sessions_and_settings_only",
        ),
    ),
    # -- Written notes (issue 22) ------------------------------------------------------------
    Mutation(
        "note-owed-first",
        "a note asked for is recorded as owed before the model is called, so a stop loses none",
        (
            Edit(
                "notes/service.py",
                "            state.notes[key] = record\n            await self._ledger.save(session_id, state)\n",
                "",
            ),
        ),
        ("tests/notes/test_service.py::test_a_note_owed_at_a_stop_is_made_once_after_the_restart",),
    ),
    Mutation(
        "note-stored-not-asked-again",
        "a note whose text was stored before a crash is not asked of the model again",
        (
            Edit(
                "notes/service.py",
                "                if record.stage is Stage.OWED and key in keys:",
                "                if False:",
            ),
        ),
        (
            "tests/notes/test_service.py::test_an_answer_stored_before_its_state_was_recorded_is_not_asked_again",
        ),
    ),
    Mutation(
        "note-written-handed-over",
        "a note written but not delivered at a crash is delivered after the restart, without a model call",
        (
            Edit(
                "notes/service.py",
                "                elif record.stage is Stage.WRITTEN:\n                    handed.append(key)",
                "                elif record.stage is Stage.WRITTEN:\n                    pass",
            ),
        ),
        (
            "tests/notes/test_service.py::test_a_crash_between_the_answer_and_the_delivery_calls_no_model_again",
        ),
    ),
    Mutation(
        "note-output-escaped",
        "the model's output is shown as text: HTML it writes never becomes markup",
        (
            Edit(
                "notes/render.py",
                '    if kind in ("text", "html_inline"):\n        return escape(node.content, quote=False)',
                '    if kind in ("text", "html_inline"):\n        return node.content',
            ),
        ),
        (
            "tests/notes/test_render.py::test_hostile_markdown_becomes_allowed_tags_with_every_piece_escaped",
        ),
    ),
)
"""Grouped by the README section whose promise they break."""


def _apply(root: Path, mutation: Mutation) -> str:
    """Apply every edit under ``root``; what did not match, or "" when all did."""
    for edit in mutation.edits:
        target = root / edit.path
        source = target.read_text(encoding="utf-8")
        found = source.count(edit.original)
        if found != 1:
            return f"{edit.path}: snippet found {found} times: {edit.original[:60]!r}"
        target.write_text(source.replace(edit.original, edit.broken), encoding="utf-8")
    return ""


def _run_mutation(mutation: Mutation, timeout: float) -> tuple[str, float, str]:
    """Apply ``mutation`` to a fresh export of HEAD and run its tests: (verdict, seconds, tail)."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutation.name}-") as tmp:
        root = Path(tmp)
        archive = subprocess.run(
            ["git", "archive", "HEAD"], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        stale = _apply(root, mutation)
        if stale:
            return "STALE", 0.0, stale
        env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        started = time.monotonic()
        try:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-x",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    *mutation.tests,
                ],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return "CAUGHT (timeout)", time.monotonic() - started, ""
        seconds = time.monotonic() - started
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-3:])
        if result.returncode == 0:
            return "SURVIVED", seconds, tail
        if result.returncode in (1,):  # tests ran and failed
            return "CAUGHT", seconds, tail
        return f"ERROR (pytest exit {result.returncode})", seconds, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these mutations")
    parser.add_argument("--list", action="store_true", help="print promises and guards")
    parser.add_argument("--timeout", type=float, default=600, help="per mutation, seconds")
    parser.add_argument(
        "--check", action="store_true", help="only check that every snippet still matches"
    )
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.list:
        for m in chosen:
            paths = ", ".join(sorted({e.path for e in m.edits}))
            print(f"{m.name}: {m.promise}\n    code: {paths}\n    guards: {', '.join(m.tests)}")
        return 0
    if args.check:
        stale = 0
        with tempfile.TemporaryDirectory() as tmp:
            for m in chosen:
                root = Path(tmp) / m.name
                for path in {e.path for e in m.edits}:
                    (root / path).parent.mkdir(parents=True, exist_ok=True)
                    (root / path).write_bytes((REPO / path).read_bytes())
                problem = _apply(root, m)
                if problem:
                    stale += 1
                    print(f"STALE {m.name}: {problem}")
        print(f"{len(chosen) - stale} of {len(chosen)} mutations apply")
        return 1 if stale else 0
    failures = 0
    for m in chosen:
        verdict, seconds, tail = _run_mutation(m, args.timeout)
        print(f"{verdict:<10} {m.name:<32} {seconds:6.1f} s  {m.promise}", flush=True)
        if not verdict.startswith("CAUGHT"):
            failures += 1
            print("    " + tail.replace("\n", "\n    "), flush=True)
    print(f"{len(chosen) - failures} of {len(chosen)} mutations caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
