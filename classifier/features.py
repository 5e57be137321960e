"""Features: TF-IDF over word and character n-grams of normalised text, plus one-hot extras."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer

# Keeps hyphenated words whole: "2-ндфл", "wi-fi", "e-mail".
TOKEN_PATTERN = r"(?u)\b\w[\w-]*\w\b"
SMALL_BATCH = 16


@dataclass(frozen=True)
class FeatureSpec:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    # None: 1 below `small_data` rows (with a few dozen examples per service a term seen once
    # still counts), 2 above (there such terms are noise, and they double the model's size).
    min_df: int | None = None
    small_data: int = 5000
    sublinear_tf: bool = True
    extra_weight: float = 1.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _tfidf(spec: FeatureSpec, analyzer: str, min_df: int) -> TfidfVectorizer:
    word = analyzer == "word"
    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=spec.word_ngrams if word else spec.char_ngrams,
        token_pattern=TOKEN_PATTERN if word else None,
        lowercase=False,  # the text arrives normalised
        min_df=min_df,
        sublinear_tf=spec.sublinear_tf,
        dtype=np.float32,
    )


def _fit_tfidf(
    spec: FeatureSpec, analyzer: str, texts: Sequence[str]
) -> tuple[TfidfVectorizer, sp.csr_matrix]:
    auto = 1 if len(texts) < spec.small_data else 2
    vec = _tfidf(spec, analyzer, spec.min_df if spec.min_df is not None else auto)
    try:
        return vec, vec.fit_transform(texts)
    except ValueError:  # tiny data: nothing occurs twice
        vec = _tfidf(spec, analyzer, 1)
        return vec, vec.fit_transform(texts)


class Features:
    """Turns normalised texts and their extra values into one sparse matrix."""

    def __init__(self, spec: FeatureSpec, extra_cols: Sequence[str] = ()) -> None:
        self.spec = spec
        self.extra_cols = list(extra_cols)
        self.word: TfidfVectorizer | None = None
        self.char: TfidfVectorizer | None = None
        self.extra: DictVectorizer | None = None

    def fit_transform(
        self, texts: Sequence[str], extras: Sequence[Mapping[str, str | None]]
    ) -> sp.csr_matrix:
        """Fit the vectorizers and return the training matrix (one pass over the texts)."""
        self.word, words = _fit_tfidf(self.spec, "word", texts)
        self.char, chars = _fit_tfidf(self.spec, "char_wb", texts)
        blocks = [words, chars]
        if self.extra_cols:
            self.extra = DictVectorizer(dtype=np.float32)
            blocks.append(
                self.extra.fit_transform(self._extra_dicts(extras)) * self.spec.extra_weight
            )
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def transform(
        self, texts: Sequence[str], extras: Sequence[Mapping[str, str | None]] | None
    ) -> sp.csr_matrix:
        """The feature matrix: sklearn's vectorizers for batches, a lean path for a few rows.

        For one request sklearn's input checks cost more than the maths, so small inputs are
        computed here directly (same numbers; a test keeps the two paths equal).
        """
        assert self.word is not None and self.char is not None, "features are not fitted"
        rows = self._extra_dicts(extras) if extras is not None else [{}] * len(texts)
        if len(texts) > SMALL_BATCH:
            blocks = [self.word.transform(texts), self.char.transform(texts)]
            if self.extra is not None:
                blocks.append(self.extra.transform(rows) * self.spec.extra_weight)
            return sp.hstack(blocks, format="csr", dtype=np.float32)
        indptr = [0]
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for text, extra in zip(texts, rows, strict=True):
            row = self._row(text, extra)
            indices.extend(idx for idx, _ in row)
            values.extend(val for _, val in row)
            indptr.append(indptr[-1] + sum(len(idx) for idx, _ in row))
        n_cols = sum(self.sizes.values())
        if not indices:
            return sp.csr_matrix((len(texts), n_cols), dtype=np.float32)
        return sp.csr_matrix(
            (np.concatenate(values), np.concatenate(indices), np.array(indptr)),
            shape=(len(texts), n_cols),
            dtype=np.float32,
        )

    def _row(self, text: str, extra: Mapping[str, str]) -> list[tuple[np.ndarray, np.ndarray]]:
        assert self.word is not None and self.char is not None
        parts = [
            _tfidf_row(self.word, self._analyzers[0], text, 0),
            _tfidf_row(self.char, self._analyzers[1], text, len(self.word.vocabulary_)),
        ]
        if self.extra is not None and extra:
            offset = len(self.word.vocabulary_) + len(self.char.vocabulary_)
            vocab = self.extra.vocabulary_
            cols = [vocab[f"{k}={v}"] + offset for k, v in extra.items() if f"{k}={v}" in vocab]
            parts.append(
                (np.array(cols, dtype=np.int64), np.full(len(cols), self.spec.extra_weight))
            )
        return parts

    @cached_property
    def _analyzers(self) -> tuple[Callable[[str], list[str]], Callable[[str], list[str]]]:
        assert self.word is not None and self.char is not None
        return self.word.build_analyzer(), self.char.build_analyzer()

    def _extra_dicts(self, extras: Sequence[Mapping[str, str | None]]) -> list[dict[str, str]]:
        return [
            {c: str(row[c]).strip().lower() for c in self.extra_cols if row.get(c)}
            for row in extras
        ]

    @property
    def sizes(self) -> dict[str, int]:
        return {
            "word": len(self.word.vocabulary_) if self.word else 0,
            "char": len(self.char.vocabulary_) if self.char else 0,
            "extra": len(self.extra.vocabulary_) if self.extra else 0,
        }

    @cached_property
    def names(self) -> np.ndarray:
        """Readable name of every column: the word n-gram, the character n-gram, or col=value."""
        parts = [_inverse(self.word.vocabulary_ if self.word else {})]
        parts.append(_inverse(self.char.vocabulary_ if self.char else {}))
        if self.extra is not None:
            parts.append(np.asarray(self.extra.feature_names_, dtype=object))
        return np.concatenate(parts)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        for lazy in ("names", "_analyzers"):
            state.pop(lazy, None)  # rebuilt on demand
        return state


def _tfidf_row(
    vec: TfidfVectorizer, analyze: Callable[[str], list[str]], text: str, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of one text: (sublinear) tf times idf, L2-normalised."""
    vocab = vec.vocabulary_
    counts = Counter(j for j in map(vocab.get, analyze(text)) if j is not None)
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    val = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    if vec.sublinear_tf:
        val = 1.0 + np.log(val)
    val *= vec.idf_[idx]
    norm = np.sqrt(np.dot(val, val))
    return idx + offset, (val / norm if norm > 0 else val)


def _inverse(vocabulary: Mapping[str, int]) -> np.ndarray:
    names = np.empty(len(vocabulary), dtype=object)
    for term, index in vocabulary.items():
        names[index] = term
    return names
