"""Call transcripts: the caller's words, cleaned of recognition noise and fillers, for the classifier."""

from __future__ import annotations

import re

# Recognition markup: "[неразборчиво]", "[noise]", "<unk>", "<sil>", "(inaudible)", masked "***".
_NOISE = re.compile(
    r"\[[^\[\]\n]{0,40}\]"
    r"|<[^<>\n]{0,20}>"
    r"|\((?:неразборчиво|нрзб\.?|шум|музыка|inaudible|unintelligible|noise|crosstalk)\)"
    r"|\*{2,}",
    re.IGNORECASE,
)

# "как бы" is a filler unless it asks how to do something: "как бы мне…", "как бы не опоздать".
_KAK_BY = (
    r"как\s+бы"
    r"(?!\s+(?:мне|нам|вам|тебе|ему|ей|им|мы|я|вы|ты|он|она|они|это|так)\b)"
    r"(?!\s+не\s+\w+(?:ть|ться|чь|сти)\b)"
)
_FILLERS_RU = [
    r"э+(?:-э+)*",
    r"эм+",
    r"м-м+(?:-м+)*",
    r"м{3,}",
    r"а-а+(?:-а+)*",
    r"а{3,}",
    r"[хг]м+",
    r"ну",
    r"ал+[оё]",
    r"это\s+самое",
    r"так\s+сказать",
    r"короче",
    _KAK_BY,
]
_FILLERS_EN = [
    r"u+m+",
    r"u+h+m*",
    r"e+r+m*",
    r"a+h+",
    r"h+m+",
    r"m{2,}",
    r"you\s+know(?=\s*[,.!?]|\s*$)",  # "do you know where…" is a question, not a filler
    r"i\s+mean(?=\s*,)",
    r"hello(?=\s*[,?!])",  # the English "алло"; "say hello to…" stays
]
_FILLER = re.compile(
    r"(?<![\w-])(?:" + "|".join(_FILLERS_RU + _FILLERS_EN) + r")(?![\w-])", re.IGNORECASE
)
# Stutter: "я я хотел" → "я хотел"; words only, so a dictated "12 12" stays as it was said.
_REPEAT = re.compile(r"\b([^\W\d_]+)(?:[\s,]+\1\b)+", re.IGNORECASE)


def clean_speech(text: str) -> str:
    """Drop recognition markup and fillers, then tidy the punctuation they leave behind."""
    text = _NOISE.sub(" ", text)
    text = _FILLER.sub(" ", text)
    text = _REPEAT.sub(r"\1", text)
    return _tidy(text)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"[,;:]\s*([.!?])", r"\1", text)
    text = re.sub(r"([.!?])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[\s,.;:!?\-]+", "", text)
    return re.sub(r"[\s,;:\-]+$", "", text)


def is_intelligible(text: str) -> bool:
    """True when anything a person said is left: at least one letter or digit."""
    return any(ch.isalnum() for ch in text)


def truncate_utf8(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut at a word boundary (a two-hour call must still fit)."""
    if len(text.encode("utf-8")) <= limit:
        return text
    cut = text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    head, _, _ = cut.rpartition(" ")
    return (head or cut).rstrip(" ,;:")
