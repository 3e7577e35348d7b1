"""Secrets are taken out of text wherever they stand."""

from __future__ import annotations

from runtime.redaction import Redactor

TOKEN = "123456789:AAHfakeTokenForTests_abcdefghijklmnop"


def test_a_token_inside_a_bot_api_url_is_redacted() -> None:
    # aiohttp's errors name the URL, where the token follows "bot" with no word boundary.
    url = f"https://api.telegram.org/file/bot{TOKEN}/voice/file_1.oga"
    redacted = Redactor()(f"ClientResponseError(url={url!r})")
    assert TOKEN not in redacted
    assert TOKEN.split(":")[1] not in redacted
    assert "/file/bot***/voice/file_1.oga" in redacted


def test_named_secrets_and_url_passwords_are_redacted() -> None:
    redact = Redactor(["s3cret-webhook"])
    text = redact("secret=s3cret-webhook redis://:hunter22@redis:6379/0")
    assert "s3cret-webhook" not in text
    assert "hunter22" not in text
