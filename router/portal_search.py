"""Searching the catalogue the way people type: either language, any case, word forms, typos.

Every active service is indexed by the words of its names and descriptions in Russian and in
English, its team's names and its code. Words are compared by their Snowball stems (so
"отпуска" finds "отпуск", "passwords" finds "password"), by prefix while the person is still
typing ("перег" finds "переговорная"), and within a small edit distance for typos ("отпукс",
"pasword"). A word typed in the wrong keyboard layout ("jngecr" for "отпуск") is read both ways.
The catalogue is small (tens of services): it is scanned per query; the words and stems of
its texts are cached per text, so an edited description is read anew.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

WORD = re.compile(r"[\wё]+", re.UNICODE)
# Field weights: the name says what the service is, the description and the team say around it.
NAME, CODE, DESCRIPTION, TEAM = 3.0, 2.0, 1.0, 1.0
EXACT, PREFIX, TYPO = 1.0, 0.8, 0.6
STOP = frozenset(
    [
        "и",
        "в",
        "во",
        "на",
        "не",
        "по",
        "с",
        "со",
        "к",
        "ко",
        "о",
        "об",
        "от",
        "до",
        "за",
        "из",
        "у",
        "для",
        "или",
        "а",
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "my",
        "is",
        "are",
        "be",
        "with",
        "at",
    ]
)
LATIN = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`"
CYRILLIC = "йцукенгшщзхъфывапролджэячсмитьбюё"
TO_CYRILLIC = str.maketrans(LATIN, CYRILLIC)
TO_LATIN = str.maketrans(CYRILLIC, LATIN)


@dataclass(frozen=True)
class Entry:
    """One service as the search sees it."""

    code: str
    names: Sequence[str]
    descriptions: Sequence[str]
    teams: Sequence[str]


@cache
def _stemmer(lang: str) -> Callable[[str], str]:
    import Stemmer  # PyStemmer, as the classifier's morphology uses

    return Stemmer.Stemmer(lang).stemWord  # type: ignore[no-any-return]


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    if re.search("[а-я]", word):
        return _stemmer("russian")(word)
    return _stemmer("english")(word)


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower().replace("ё", "е")) if w not in STOP]


def variants(word: str) -> list[str]:
    """The word, and the word as if typed in the other keyboard layout."""
    out = [word]
    if re.fullmatch(r"[a-z\[\];',.`]+", word) and len(word) >= 3:
        out.append(word.translate(TO_CYRILLIC))
    elif re.fullmatch("[а-яё]+", word) and len(word) >= 3:
        out.append(word.translate(TO_LATIN))
    return out


def within(a: str, b: str, limit: int) -> bool:
    """Damerau-Levenshtein distance (adjacent swaps count one) of a and b is at most limit."""
    if abs(len(a) - len(b)) > limit:
        return False
    # Each edit brings in at most one letter the other word lacks: a cheap way to say no.
    if len(set(a) - set(b)) > limit or len(set(b) - set(a)) > limit:
        return False
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[-1] <= limit


def match(query: str, token: str, token_stem: str) -> float:
    """How well one typed word matches one indexed word (0: not at all)."""
    q_stem = stem(query)
    if query == token or q_stem == token_stem:
        return EXACT
    if len(query) >= 3 and (token.startswith(query) or token.startswith(q_stem)):
        return PREFIX
    if len(query) >= 4:
        limit = 1 if len(query) < 8 else 2
        if within(q_stem, token_stem, limit) or within(query, token, limit):
            return TYPO
    return 0.0


@lru_cache(maxsize=4096)
def _text_tokens(text: str) -> tuple[tuple[str, str], ...]:
    """A catalogue text's words and their stems (the catalogue changes rarely: kept per text)."""
    return tuple((w, stem(w)) for w in words(text))


def _tokens(texts: Iterable[str]) -> list[tuple[str, str]]:
    return [token for text in texts for token in _text_tokens(text)]


def score(entry: Entry, query: str) -> tuple[int, float]:
    """(words found, sum over the typed words of their best weighted match)."""
    fields = (
        (NAME, _tokens(entry.names)),
        (CODE, _tokens([entry.code.replace("_", " ")])),
        (DESCRIPTION, _tokens(entry.descriptions)),
        (TEAM, _tokens(entry.teams)),
    )
    found, total = 0, 0.0
    for typed in words(query):
        best = 0.0
        for variant in variants(typed):
            for weight, tokens in fields:
                if weight * EXACT <= best:
                    continue  # this field cannot beat what is found
                for token, token_stem in tokens:
                    best = max(best, weight * match(variant, token, token_stem))
        if best > 0.0:
            found, total = found + 1, total + best
    return found, total


def search(entries: Iterable[Entry], query: str, *, limit: int = 20) -> list[tuple[str, float]]:
    """(service code, score), best first, of the services that match the most typed words.

    When some service has every word, only those are shown; "справка для визы" still finds the
    certificates though no service mentions visas.
    """
    if not words(query):
        return []
    scored = [(e.code, *score(e, query)) for e in entries]
    most = max((found for _, found, _ in scored), default=0)
    if most == 0:
        return []
    hits = [(code, round(total, 3)) for code, found, total in scored if found == most]
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))[:limit]
