"""Words read in their language: each word of a request replaced by its stem or lemma.

Russian inflects heavily ("болит", "боли", "болью"; "пароль", "пароля", "паролем"): the raw
word n-grams see a new term in each form. The base forms go into a TF-IDF block of their own,
beside the raw n-grams (never instead of them). Which words are reduced, and how, follows the
language the request is written in (more Cyrillic than Latin letters: Russian): in a Russian
request its Russian words, in an English one its English words (when English is named); the
block holds only those (the raw n-grams hold every word as written), so it is empty for a
language that is not reduced. Backends, both installed from the package index with their data:

- "snowball": the Snowball stemmer (PyStemmer, C, well under a microsecond a word);
- "pymorphy": the lemma of the most likely parse (pymorphy3 with pymorphy3-dicts-ru, Russian
  only; tens of microseconds a word, cached per word).

The measured choice is in docs/benchmarks.md; `DEFAULT` holds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

WORD = re.compile(r"(?u)\b\w[\w-]*\w\b|\b\w\b")
CYRILLIC = re.compile(r"[а-яё]")
LATIN = re.compile(r"[a-z]")
BACKENDS = ("snowball", "pymorphy")
MAX_CACHED_WORDS = 100_000


def language(text: str) -> str:
    """ "ru" when the (lower-case) text has more Cyrillic than Latin letters, else "en"."""
    return "ru" if len(CYRILLIC.findall(text)) > len(LATIN.findall(text)) else "en"


def _snowball(lang: str) -> Callable[[str], str]:
    import Stemmer  # PyStemmer

    stemmer = Stemmer.Stemmer({"ru": "russian", "en": "english"}[lang])
    return stemmer.stemWord  # type: ignore[no-any-return]


def _pymorphy(lang: str) -> Callable[[str], str]:
    if lang != "ru":
        raise ValueError("pymorphy lemmatises Russian only")
    import pymorphy3

    analyzer = pymorphy3.MorphAnalyzer(lang="ru")
    return lambda word: str(analyzer.parse(word)[0].normal_form)


@dataclass(frozen=True)
class Morphology:
    """Reduces the words of a request's language to base forms; picklable (backends are lazy)."""

    # language -> backend ("snowball" | "pymorphy"); a language not named is left as written.
    by_language: Mapping[str, str]

    def __post_init__(self) -> None:
        for lang, backend in self.by_language.items():
            if backend not in BACKENDS or lang not in ("ru", "en"):
                raise ValueError(f"morphology {lang}={backend!r}: use ru/en = {BACKENDS}")

    @cached_property
    def _reducers(self) -> dict[str, Callable[[str], str]]:
        makers = {"snowball": _snowball, "pymorphy": _pymorphy}
        return {lang: makers[name](lang) for lang, name in self.by_language.items()}

    @cached_property
    def _cache(self) -> dict[tuple[str, str], str]:
        return {}

    def base_form(self, word: str, lang: str) -> str:
        key = (lang, word)
        found = self._cache.get(key)
        if found is None:
            script = CYRILLIC if lang == "ru" else LATIN
            reduce = self._reducers.get(lang)
            found = reduce(word) if reduce is not None and script.search(word) else word
            if len(self._cache) >= MAX_CACHED_WORDS:
                self._cache.clear()
            self._cache[key] = found
        return found

    def __call__(self, text: str) -> str:
        """The base forms of the words of the text's language, in order; "" when its language
        is not reduced (the raw n-grams already hold every word as written)."""
        lang = language(text)
        if lang not in self.by_language:
            return ""
        script = CYRILLIC if lang == "ru" else LATIN
        return " ".join(self.base_form(w, lang) for w in WORD.findall(text) if script.search(w))

    def __getstate__(self) -> dict[str, Any]:
        return {"by_language": dict(self.by_language)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "by_language", state["by_language"])


def parse(spec: str) -> Morphology | None:
    """ "ru=snowball,en=snowball" (or "off") as a Morphology."""
    if spec in ("", "off", "none"):
        return None
    pairs = dict(part.split("=", 1) for part in spec.split(","))
    return Morphology({k.strip(): v.strip() for k, v in pairs.items()})
