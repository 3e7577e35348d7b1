"""The model's Markdown as Telegram HTML: only the tags Telegram allows, every piece of text
escaped, cut into messages within Telegram's limit.

The model's output is untrusted text. It is parsed by markdown-it-py (CommonMark) and written
back from the parse tree by this module alone: any HTML the model wrote is shown as text,
links keep only web and mail addresses, and every tag written is one this module opened and
closes. A block too long for one message is split on its own (a list item by item, code by
lines, anything else as plain text), so every part is complete HTML.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at the first note rendered, not at the bot's start
    from markdown_it import MarkdownIt
    from markdown_it.tree import SyntaxTreeNode

MESSAGE_LIMIT = 4096
"""Telegram's limit on a message's text, counted in UTF-16 code units."""

_SAFE_SCHEMES = ("http://", "https://", "mailto:", "tg://")
_INLINE_TAGS = {"strong": "b", "em": "i", "s": "s"}
_CHECKBOXES = {"[ ] ": "☐ ", "[x] ": "☑ ", "[X] ": "☑ "}


@dataclass(frozen=True)
class _Unit:
    """A piece that is never split across messages, and what goes before it."""

    html: str
    plain: str  # the same without markup (escaped), for when it must be split
    separator: str


def telegram_length(text: str) -> int:
    """How Telegram counts ``text``: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def markdown_to_html(markdown: str) -> str:
    """The whole note as one Telegram HTML text (may be longer than one message)."""
    return "".join(u.separator + u.html for u in _units(markdown)).strip("\n")


def render_parts(markdown: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The note as Telegram HTML messages, each at most ``limit`` long; at least one."""
    parts: list[str] = []
    current = ""
    for unit in _units(markdown):
        for html in _fitting(unit, limit):
            candidate = current + unit.separator + html if current else html
            if telegram_length(candidate) <= limit:
                current = candidate
                continue
            if current:
                parts.append(current)
            current = html
    if current.strip():
        parts.append(current)
    return parts or [escape("(empty)")]


def _fitting(unit: _Unit, limit: int) -> Iterator[str]:
    if telegram_length(unit.html) <= limit:
        yield unit.html
        return
    if unit.html.startswith("<pre>"):
        yield from (f"<pre>{chunk}</pre>" for chunk in _chunks(unit.plain, limit - 11))
        return
    yield from _chunks(unit.plain, limit)


def _chunks(escaped: str, limit: int) -> Iterator[str]:
    """Escaped plain text in pieces of at most ``limit``, cut at a line end or a space where
    there is one, never inside an entity (``&amp;``)."""
    rest = escaped
    while telegram_length(rest) > limit:
        cut = limit
        while telegram_length(rest[:cut]) > limit:
            cut -= 1
        window = rest[:cut]
        amp = window.rfind("&")
        if amp != -1 and ";" not in window[amp:]:
            window = window[:amp]
        # A line end if there is one in the second half, else a space, else a hard cut.
        for at in (window.rfind("\n"), window.rfind(" ")):
            if at > len(window) // 2:
                window = window[: at + 1]
                break
        yield window.rstrip() or window
        rest = rest[len(window) :].lstrip()
    if rest.strip():
        yield rest


def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["strikethrough", "table"])


def _units(markdown: str) -> list[_Unit]:
    from markdown_it.tree import SyntaxTreeNode

    tree = SyntaxTreeNode(_parser().parse(markdown))
    units: list[_Unit] = []
    for block in tree.children:
        first = True
        for html, plain in _block(block):
            units.append(_Unit(html, plain, "" if not units else ("\n\n" if first else "\n")))
            first = False
    return units


def _block(node: SyntaxTreeNode, depth: int = 0) -> Iterator[tuple[str, str]]:
    """A top-level block as (html, plain) pieces: one, or one per list item / table row."""
    kind = node.type
    if kind == "paragraph":
        yield _inline_pair(node)
    elif kind == "heading":
        html, plain = _inline_pair(node)
        yield f"<b>{html}</b>", plain
    elif kind in ("bullet_list", "ordered_list"):
        yield from _list(node, depth)
    elif kind in ("fence", "code_block"):
        code = escape(node.content.rstrip("\n"), quote=False)
        yield f"<pre>{code}</pre>", code
    elif kind == "blockquote":
        inner = [pair for child in node.children for pair in _block(child, depth)]
        html = "\n".join(h for h, _ in inner)
        yield f"<blockquote>{html}</blockquote>", "\n".join(p for _, p in inner)
    elif kind == "hr":
        yield "———", "———"
    elif kind == "table":
        for row in _walk(node, "tr"):
            cells = [_inline_pair(cell) for cell in row.children]
            yield " | ".join(h for h, _ in cells), " | ".join(p for _, p in cells)
    else:  # html_block and anything unknown: shown as the text it is
        text = escape(node.content.strip("\n"), quote=False)
        yield text, text


def _list(node: SyntaxTreeNode, depth: int) -> Iterator[tuple[str, str]]:
    ordered = node.type == "ordered_list"
    start = _start(node) if ordered else 1
    indent = "    " * depth
    for number, item in enumerate(node.children, start):
        marker = f"{number}." if ordered else "•"
        first = True
        for child in item.children:
            if child.type in ("bullet_list", "ordered_list"):
                yield from _list(child, depth + 1)
                continue
            for html, plain in _block(child, depth + 1):
                if first:
                    html, plain = _checkbox(html), _checkbox(plain)
                    lead = f"{indent}{marker} "
                    first = False
                else:
                    lead = f"{indent}  "
                yield lead + html, lead + plain


def _start(node: SyntaxTreeNode) -> int:
    value = node.attrs.get("start", 1)
    try:
        return max(0, min(int(value), 10**6))
    except (TypeError, ValueError):
        return 1


def _checkbox(text: str) -> str:
    for box, mark in _CHECKBOXES.items():
        if text.startswith(box):
            return mark + text[len(box) :]
    return text


def _walk(node: SyntaxTreeNode, kind: str) -> Iterator[SyntaxTreeNode]:
    for child in node.children:
        if child.type == kind:
            yield child
        else:
            yield from _walk(child, kind)


def _inline_pair(node: SyntaxTreeNode) -> tuple[str, str]:
    inline = [c for c in node.children if c.type == "inline"]
    html = "".join(_inline(c) for c in inline)
    plain = "".join(_plain(c) for c in inline)
    return html, plain


def _inline(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind in ("text", "html_inline"):
        return escape(node.content, quote=False)
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind == "code_inline":
        return f"<code>{escape(node.content, quote=False)}</code>"
    inner = "".join(_inline(c) for c in node.children)
    if kind in _INLINE_TAGS:
        tag = _INLINE_TAGS[kind]
        return f"<{tag}>{inner}</{tag}>" if inner else ""
    if kind == "link":
        href = str(node.attrs.get("href", ""))
        if href.lower().startswith(_SAFE_SCHEMES) and inner:
            return f'<a href="{escape(href, quote=True)}">{inner}</a>'
        return inner
    if kind == "image":
        return escape(str(node.attrs.get("alt", "") or ""), quote=False) or inner
    return inner  # inline, and anything unknown: its text only


def _plain(node: SyntaxTreeNode) -> str:
    if node.type in ("text", "html_inline", "code_inline"):
        return escape(node.content, quote=False)
    if node.type in ("softbreak", "hardbreak"):
        return "\n"
    return "".join(_plain(c) for c in node.children)


__all__ = ["MESSAGE_LIMIT", "markdown_to_html", "render_parts", "telegram_length"]
