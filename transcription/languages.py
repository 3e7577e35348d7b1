"""The languages Whisper knows (the codes faster-whisper accepts), with their English names,
and whether a model knows more than English.

Kept here rather than read from faster-whisper so that the bot can check a chat's choice
without importing the engine (a bot on the task-queue backend never loads a model);
``tests/transcription/test_languages.py`` checks that the codes match faster-whisper's.
"""

from __future__ import annotations

import json
from pathlib import Path

WHISPER_LANGUAGES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "as": "Assamese", "az": "Azerbaijani",
    "ba": "Bashkir", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "bo": "Tibetan",
    "br": "Breton", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fo": "Faroese",
    "fr": "French", "gl": "Galician", "gu": "Gujarati", "ha": "Hausa", "haw": "Hawaiian",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "ht": "Haitian Creole",
    "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "is": "Icelandic",
    "it": "Italian", "ja": "Japanese", "jw": "Javanese", "ka": "Georgian", "kk": "Kazakh",
    "km": "Khmer", "kn": "Kannada", "ko": "Korean", "la": "Latin", "lb": "Luxembourgish",
    "ln": "Lingala", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian", "mg": "Malagasy",
    "mi": "Maori", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi",
    "ms": "Malay", "mt": "Maltese", "my": "Burmese", "ne": "Nepali", "nl": "Dutch",
    "nn": "Norwegian Nynorsk", "no": "Norwegian", "oc": "Occitan", "pa": "Punjabi",
    "pl": "Polish", "ps": "Pashto", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sa": "Sanskrit", "sd": "Sindhi", "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian",
    "sn": "Shona", "so": "Somali", "sq": "Albanian", "sr": "Serbian", "su": "Sundanese",
    "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "tg": "Tajik",
    "th": "Thai", "tk": "Turkmen", "tl": "Tagalog", "tr": "Turkish", "tt": "Tatar",
    "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "yi": "Yiddish",
    "yo": "Yoruba", "zh": "Chinese", "yue": "Cantonese",
}  # fmt: skip


def language_name(code: str) -> str:
    """``"German (de)"``; an unknown code as itself."""
    name = WHISPER_LANGUAGES.get(code)
    return f"{name} ({code})" if name else code


def english_only_model(model: str | None, bundled: Path | None = None) -> bool:
    """Whether the model named by ``WHISPER_MODEL`` knows only English, as far as can be
    told without loading it: the bundled tiny.en (None, its folder ``bundled``), a name or
    folder ending in ``.en``, or a CTranslate2 folder whose vocabulary is English-only's
    (51,864 tokens; the multilingual ones have more). A name to be fetched from the hub
    (``small``) counts as multilingual. A loaded model knows for sure
    (``WhisperTranscriber.is_multilingual``)."""
    if model is None and bundled is None:
        return True
    path = bundled if model is None else Path(model).expanduser()
    assert path is not None
    if path.name.lower().endswith(".en"):
        return True
    size = _vocabulary_size(path)
    return size is not None and size <= ENGLISH_VOCABULARY_SIZE


ENGLISH_VOCABULARY_SIZE = 51864


def _vocabulary_size(folder: Path) -> int | None:
    try:
        if (folder / "vocabulary.json").is_file():
            return len(json.loads((folder / "vocabulary.json").read_text(encoding="utf-8")))
        if (folder / "vocabulary.txt").is_file():
            text = (folder / "vocabulary.txt").read_text(encoding="utf-8")
            return len(text.splitlines())
    except (OSError, ValueError, TypeError):
        return None
    return None


__all__ = ["WHISPER_LANGUAGES", "english_only_model", "language_name"]
