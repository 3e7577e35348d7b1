"""Fitting text into Telegram's messages: splitting a long text at natural breaks, cutting
one to a limit, packing lines into few messages, and keeping server paths out of what the
chat reads. No wording of its own (that is :mod:`bot.texts`), so nothing here is translated."""

from __future__ import annotations

import re

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters.

    Breaks at paragraph boundaries where possible, then at sentence ends, then at spaces,
    and only cuts a word that is longer than a whole message.
    """
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text.strip(), limit):
        joiner = "\n\n" if piece.startswith("\x00") else " "
        piece = piece.lstrip("\x00")
        if not current:
            current = piece
        elif len(current) + len(joiner) + len(piece) <= limit:
            current += joiner + piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _pieces(text: str, limit: int) -> list[str]:
    # Each paragraph's first piece is marked with \x00 so it is rejoined with a blank line.
    pieces: list[str] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        parts = [paragraph] if len(paragraph) <= limit else _split_long(paragraph, limit)
        pieces.append("\x00" + parts[0])
        pieces.extend(parts[1:])
    return pieces


def _split_long(paragraph: str, limit: int) -> list[str]:
    out: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        if len(sentence) <= limit:
            out.append(sentence)
            continue
        words = sentence.split()  # any whitespace: no blank or padded pieces
        line = ""
        for word in words:
            while len(word) > limit:
                if line:
                    out.append(line)
                    line = ""
                out.append(word[:limit])
                word = word[limit:]
            if line and len(line) + 1 + len(word) > limit:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        if line:
            out.append(line)
    return out


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text``, cut to at most ``limit`` characters (ending in "…" when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pack_lines(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Lines joined into as few messages of at most ``limit`` characters as they fit in."""
    messages: list[str] = []
    current = ""
    for line in (fit(line, limit) for line in lines):
        if current and len(current) + 1 + len(line) <= limit:
            current += "\n" + line
        else:
            if current:
                messages.append(current)
            current = line
    if current:
        messages.append(current)
    return messages


# An absolute path: a "/" that starts a word (not "1/2", not the "//" of a URL), then
# anything up to whitespace, a quote or a bracket.
_ABSOLUTE_PATH = re.compile(r"(?<![\w/.:~])/[^\s'\"<>()\[\]]*")


def without_paths(text: str) -> str:
    """``text`` with each absolute path replaced by its last part (a file name, not where
    it lives on the server)."""

    def last_part(match: re.Match[str]) -> str:
        parts = [p for p in match.group(0).split("/") if p]
        return parts[-1] if parts else "/"

    return _ABSOLUTE_PATH.sub(last_part, text)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (runs of whitespace made one space), cut to ``limit``."""
    return fit(" ".join(text.split()), limit)
