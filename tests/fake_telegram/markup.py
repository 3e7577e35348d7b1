"""What a user sees for a text sent with a ``parse_mode``; malformed markup is refused."""

from __future__ import annotations

import html
import re

from tests.fake_telegram.api import bad_request, byte_offset, entity_error

_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_MD_LINK_RE = re.compile(r"\[([^\[\]]*)\]\(([^()]*)\)")


def render_html(text: str) -> str:
    """Plain text of an HTML-formatted message; raises like Telegram on malformed markup."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while (lt := text.find("<", pos)) != -1:
        out.append(text[pos:lt])
        offset = byte_offset(text, lt)
        match = _HTML_TAG_RE.match(text, lt)
        if match is None:
            raise entity_error(f"Unexpected end of name token at byte offset {offset}")
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in _HTML_TAGS:
            raise entity_error(f'Unsupported start tag "{name}" at byte offset {offset}')
        if closing:
            if not stack:
                raise entity_error(f'Unexpected end tag "{name}" at byte offset {offset}')
            if stack[-1] != name:
                raise entity_error(
                    f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
        else:
            stack.append(name)
        pos = match.end()
    out.append(text[pos:])
    if stack:
        raise entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return html.unescape("".join(out))


def render_markdown_v2(text: str) -> str:
    """Approximate plain text of a MarkdownV2 message.

    Enforces Telegram's most common rejection (reserved characters must be escaped), drops
    the formatting characters ``*_~|``` `` and turns ``[text](url)`` into ``text``.  Balance of
    formatting marks is not checked.
    """
    out: list[str] = []
    i = 0
    at_line_start = True
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == "[" and (link := _MD_LINK_RE.match(text, i)):
            out.append(render_markdown_v2(link.group(1)))
            i = link.end()
        elif ch in "*_~|`" or (ch == ">" and at_line_start):  # formatting / blockquote
            i += 1
        elif ch in "[]()>#+-={}.!":
            raise entity_error(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            out.append(ch)
            i += 1
        at_line_start = ch == "\n"
    return "".join(out)


def render(text: str, parse_mode: str | None) -> str:
    """What the user sees for ``text`` sent with ``parse_mode``."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return render_html(text)
    if mode == "markdownv2":
        return render_markdown_v2(text)
    if mode in {"", "markdown"}:
        return text
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")
