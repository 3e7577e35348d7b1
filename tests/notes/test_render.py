"""The model's Markdown becomes Telegram HTML with only allowed tags, every piece escaped, in
parts Telegram accepts; hostile output shows as text and never as markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from notes.render import MESSAGE_LIMIT, markdown_to_html, render_parts, telegram_length

ALLOWED = {"b", "i", "s", "code", "pre", "a", "blockquote"}


class TagChecker(HTMLParser):
    """Parses Telegram HTML strictly: allowed tags only, balanced, href the only attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.problems.append(f"tag {tag}")
        names = [name for name, _ in attrs]
        if names not in ([], ["href"]) or (names and tag != "a"):
            self.problems.append(f"attributes {names} on {tag}")
        for name, value in attrs:
            if name == "href" and not re.match(r"^(https?://|mailto:|tg://)", value or ""):
                self.problems.append(f"href {value}")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text += data


def check(html: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(html)
    checker.close()
    assert checker.problems == [], html
    assert checker.open == [], html
    # Only the entities Telegram knows; every & starts one.
    assert re.findall(r"&(?!(?:amp|lt|gt|quot|#x?[0-9a-fA-F]+);)", html) == [], html
    return checker


HOSTILE = """# Title <script>alert(1)</script>

Some **bold** and *italic* and ~~gone~~ and `code <b>` and <b onclick="x">raw html</b>.

- [ ] buy milk & eggs
- [x] done <i>
  - nested [click](javascript:alert(1)) and [ok](https://example.com/?a=1&b="2")

1. one
2. two ![img](http://x/y.png "t")

```html
<a href="x">code stays text</a> & more
```

> quoted <blockquote> text

<div><iframe src="x"></iframe></div>

| a | b |
|---|---|
| <u>1</u> | 2 |

---
&amp; &lt;already&gt; &#x27; &bogus; & < >
"""


def test_hostile_markdown_becomes_allowed_tags_with_every_piece_escaped() -> None:
    html = markdown_to_html(HOSTILE)
    checker = check(html)
    assert "<b>Title &lt;script&gt;alert(1)&lt;/script&gt;</b>" in html
    assert "<b>bold</b>" in html
    assert "<i>italic</i>" in html
    assert "<s>gone</s>" in html
    assert "<code>code &lt;b&gt;</code>" in html
    assert "&lt;b onclick=&quot;x&quot;&gt;" in html or '&lt;b onclick="x"&gt;' in html
    assert "☐ buy milk &amp; eggs" in html
    assert "☑ done &lt;i&gt;" in html
    assert "javascript" not in re.sub(r"\[click\]\(javascript:alert\(1\)\)", "", html)
    assert '<a href="https://example.com/?a=1&amp;b=%222%22">ok</a>' in html
    assert "<pre>&lt;a href=&quot;x&quot;&gt;" in html or '<pre>&lt;a href="x"&gt;' in html
    assert "<blockquote>quoted &lt;blockquote&gt; text</blockquote>" in html
    assert "&lt;iframe" in html
    # What the reader sees is the model's text, tags and all, as text.
    assert "<script>alert(1)</script>" in checker.text
    assert "&bogus;" in checker.text


def test_long_notes_are_cut_into_whole_parts_within_the_limit() -> None:
    markdown = "\n\n".join(
        [
            "# A long note",
            "\n".join(f"- item {n} with **bold** & <tags>" for n in range(400)),
            "word " * 2000,  # one paragraph longer than a message
            "```\n" + "line of code <x>\n" * 600 + "```",
            "😀" * 3000,  # counted twice by Telegram
        ]
    )
    parts = render_parts(markdown)
    assert len(parts) > 4
    for part in parts:
        assert 0 < telegram_length(part) <= MESSAGE_LIMIT
        check(part)
    text = "".join(check(p).text for p in parts)
    assert text.count("item") == 400
    assert text.count("word") == 2000
    assert text.count("line of code <x>") == 600
    assert text.count("😀") == 3000


def test_an_empty_answer_still_makes_one_part() -> None:
    assert render_parts("") == ["(empty)"]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab <>&*_`#-[]()!|~\n\\\"'=/:;1.")), max_size=400))
def test_any_text_renders_to_valid_telegram_html(text: str) -> None:
    for part in render_parts(text, limit=200):
        assert telegram_length(part) <= 200
        check(part)
