"""Features: TF-IDF over word and character n-grams of normalised text, one-hot extras, and
(when the sentence encoder is used) the request's sentence embedding as the last columns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer

from classifier import encoder as sentence_encoder
from classifier import morphology, static_encoder

# What the embedding columns come from: the transformer run per request, or the static
# word-piece table distilled from it (classifier/static_encoder.py).
Encoder = sentence_encoder.SentenceEncoder | static_encoder.StaticEncoder
ENCODER_MODES = ("auto", "on", "off", "static")

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
    # ... and 1 at any size while services have fewer than this many examples on average:
    # there a rare service's telling word may occur once (ru_med_top3: 53 a class, +0.017
    # accuracy with min_df 1). training.fit_model applies it; it knows the labels.
    few_per_class: int = 100
    sublinear_tf: bool = True
    extra_weight: float = 1.0
    # The pretrained sentence encoder's embedding beside the n-grams: "on", "off", or "auto" =
    # on when it is installed and the training texts total at most `encoder_token_budget`
    # word pieces (about a minute of encoding on two cores); long e-mail sets gain least from
    # it (it reads only their first `encoder_max_tokens` pieces) and would pay most. "auto"
    # also leaves it out when over 90 % of the training texts are Russian (English-trained).
    # "static": the static word-piece embeddings distilled from the same encoder
    # (classifier/static_encoder.py), over the whole text, for ~0.1 ms a request.
    encoder: str = "auto"
    encoder_layers: int = 4  # of 6: two thirds of the cost, most of the gain (docs/benchmarks.md)
    encoder_max_tokens: int = sentence_encoder.DEFAULT_TOKENS
    encoder_weight: float = 2.0
    encoder_token_budget: int = 400_000
    static_dims: int = static_encoder.DEFAULT_DIMS
    static_layers: int = 6  # the table is built once: the whole encoder
    static_weight: float = 2.0
    # Base forms of the words of the request's language as one more TF-IDF block (word
    # n-grams of the reduced text): "ru=snowball", "ru=pymorphy,en=snowball", "off".
    morphology: str = "ru=snowball"

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
    """Fit one block; `analyzer` "word", "char_wb", or "stem" (word n-grams of base forms)."""
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
        self.stem: TfidfVectorizer | None = None
        self.morph = morphology.parse(spec.morphology)
        self.extra: DictVectorizer | None = None
        # What the embedding columns were trained with (None: no embedding columns); its
        # "kind" is "static" for the static table (absent: the contextual encoder).
        self.encoder_identity: dict[str, object] | None = None
        # Static embeddings: each word piece's weight in a text's mean (IDF on the training set).
        self.piece_weights: np.ndarray | None = None

    def fit_transform(
        self,
        texts: Sequence[str],
        extras: Sequence[Mapping[str, str | None]],
        originals: Sequence[str] | None = None,
        tick: sentence_encoder.Tick | None = None,
    ) -> sp.csr_matrix:
        """Fit the vectorizers and return the training matrix (one pass over the texts).

        `texts` are normalised (for the n-grams); `originals` are the texts as written, which
        the sentence encoder reads (it knows "£" and "10" better than "numtok").
        """
        self.word, words = _fit_tfidf(self.spec, "word", texts)
        self.char, chars = _fit_tfidf(self.spec, "char_wb", texts)
        blocks = [words, chars]
        reduced = [self.morph(t) for t in texts] if self.morph is not None else []
        if any(reduced):  # no request in a reduced language: no block
            self.stem, stems = _fit_tfidf(self.spec, "word", reduced)
            blocks.append(stems)
        if self.extra_cols:
            self.extra = DictVectorizer(dtype=np.float32)
            blocks.append(
                self.extra.fit_transform(self._extra_dicts(extras)) * self.spec.extra_weight
            )
        raw = list(originals) if originals is not None else list(texts)
        encoder = self._choose_encoder(raw)
        if encoder is not None:
            if isinstance(encoder, static_encoder.StaticEncoder):
                self.piece_weights = encoder.piece_weights(raw)
            self.encoder_identity = {**encoder.identity, "weight": self._weight(encoder)}
            blocks.append(sp.csr_matrix(self._encode(encoder, raw, tick)))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _weight(self, encoder: Encoder) -> float:
        if isinstance(encoder, static_encoder.StaticEncoder):
            return self.spec.static_weight
        return self.spec.encoder_weight

    def _encode(
        self, encoder: Encoder, texts: Sequence[str], tick: sentence_encoder.Tick | None = None
    ) -> np.ndarray:
        """The embedding columns of `texts`, scaled by the block's weight."""
        if isinstance(encoder, static_encoder.StaticEncoder):
            embedded = encoder.encode(texts, tick, self.piece_weights)
        else:
            embedded = encoder.encode(texts, tick)
        return embedded * np.float32(self._weight(encoder))

    def _choose_encoder(self, raw: Sequence[str]) -> Encoder | None:
        mode = self.spec.encoder
        if mode not in ENCODER_MODES:
            raise ValueError(f"encoder must be auto, on, off or static, not {mode!r}")
        if mode == "off" or (mode == "auto" and not sentence_encoder.available()):
            return None
        if mode == "static":
            return static_encoder.load(self.spec.static_dims, self.spec.static_layers)
        encoder = sentence_encoder.load(  # "on" and not installed: raises
            self.spec.encoder_layers, max_tokens=self.spec.encoder_max_tokens
        )
        if mode == "auto":
            # It was trained on English: Russian reads to it as English word pieces, and on
            # all-Russian data it was not measured to help (issue 19); bilingual data keeps it.
            if sum(morphology.language(t.lower()) == "ru" for t in raw) > 0.9 * len(raw):
                return None
            pieces = sum(len(ids) for ids in encoder.token_ids(raw))
            if pieces > self.spec.encoder_token_budget:
                return None
        return encoder

    @property
    def uses_encoder(self) -> bool:
        return self.encoder_identity is not None

    @property
    def count_columns(self) -> int:
        """Leading columns that are non-negative (TF-IDF, one-hot); the embedding follows."""
        sizes = self.sizes
        return sizes["word"] + sizes["char"] + sizes["stem"] + sizes["extra"]

    def encoder(self) -> Encoder:
        """The encoder these features were trained with; a clear error when it cannot be had."""
        assert self.encoder_identity is not None
        identity = self.encoder_identity
        if identity.get("kind") == static_encoder.StaticEncoder.kind:
            table = static_encoder.load(int(str(identity["dims"])), int(str(identity["layers"])))
            for key in ("name", "weights_sha256_1mib", "layers", "dims", "table"):
                if table.identity.get(key) != identity.get(key):
                    raise sentence_encoder.EncoderUnavailable(
                        f"the model was trained with other static embeddings ({key}: "
                        f"{identity.get(key)} here {table.identity.get(key)})"
                    )
            return table
        encoder = sentence_encoder.load(
            int(str(identity["layers"])),
            quantized=bool(identity["quantized"]),
            max_tokens=int(str(identity["max_tokens"])),
        )
        for key in ("name", "weights_sha256_1mib", "layers", "quantized", "max_tokens"):
            if encoder.identity.get(key) != self.encoder_identity.get(key):
                raise sentence_encoder.EncoderUnavailable(
                    f"the model was trained with another sentence encoder ({key}: "
                    f"{self.encoder_identity.get(key)} here {encoder.identity.get(key)})"
                )
        return encoder

    def embed(self, originals: Sequence[str]) -> np.ndarray:
        """The embedding columns of texts as written (scaled by the block's weight)."""
        return self._encode(self.encoder(), originals)

    def transform(
        self,
        texts: Sequence[str],
        extras: Sequence[Mapping[str, str | None]] | None,
        originals: Sequence[str] | None = None,
        *,
        embed: bool = True,
    ) -> sp.csr_matrix:
        """The feature matrix: sklearn's vectorizers for batches, a lean path for a few rows.

        For one request sklearn's input checks cost more than the maths, so small inputs are
        computed here directly (same numbers; a test keeps the two paths equal). With `embed`
        False only the `count_columns` n-gram and extra columns are built (no encoder run).
        """
        assert self.word is not None and self.char is not None, "features are not fitted"
        rows = self._extra_dicts(extras) if extras is not None else [{}] * len(texts)
        dense = (
            self.embed(list(originals) if originals is not None else list(texts))
            if self.uses_encoder and embed
            else None
        )
        if len(texts) > SMALL_BATCH:
            blocks = [self.word.transform(texts), self.char.transform(texts)]
            if self.stem is not None and self.morph is not None:
                blocks.append(self.stem.transform([self.morph(t) for t in texts]))
            if self.extra is not None:
                blocks.append(self.extra.transform(rows) * self.spec.extra_weight)
            if dense is not None:
                blocks.append(sp.csr_matrix(dense))
            return sp.hstack(blocks, format="csr", dtype=np.float32)
        indptr = [0]
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        dense_cols = np.arange(self.count_columns, self.count_columns + self.sizes["embedding"])
        for i, (text, extra) in enumerate(zip(texts, rows, strict=True)):
            row = self._row(text, extra)
            if dense is not None:
                row.append((dense_cols, dense[i]))
            indices.extend(idx for idx, _ in row)
            values.extend(val for _, val in row)
            indptr.append(indptr[-1] + sum(len(idx) for idx, _ in row))
        n_cols = sum(self.sizes.values()) if embed else self.count_columns
        if not indices:
            return sp.csr_matrix((len(texts), n_cols), dtype=np.float32)
        return sp.csr_matrix(
            (np.concatenate(values), np.concatenate(indices), np.array(indptr)),
            shape=(len(texts), n_cols),
            dtype=np.float32,
        )

    def _row(self, text: str, extra: Mapping[str, str]) -> list[tuple[np.ndarray, np.ndarray]]:
        assert self.word is not None and self.char is not None
        offset = len(self.word.vocabulary_)
        parts = [
            _tfidf_row(self.word, self._analyzers[0], text, 0),
            _tfidf_row(self.char, self._char_grams.counts, text, offset),
        ]
        offset += len(self.char.vocabulary_)
        if self.stem is not None and self.morph is not None:
            parts.append(_tfidf_row(self.stem, self._analyzers[0], self.morph(text), offset))
            offset += len(self.stem.vocabulary_)
        if self.extra is not None and extra:
            vocab = self.extra.vocabulary_
            cols = [vocab[f"{k}={v}"] + offset for k, v in extra.items() if f"{k}={v}" in vocab]
            parts.append(
                (np.array(cols, dtype=np.int64), np.full(len(cols), self.spec.extra_weight))
            )
        return parts

    @cached_property
    def _char_grams(self) -> _WordCharGrams:
        assert self.char is not None
        return _WordCharGrams(self.char)

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
            "stem": len(self.stem.vocabulary_) if self.stem else 0,
            "extra": len(self.extra.vocabulary_) if self.extra else 0,
            "embedding": int(str(self.encoder_identity["dim"])) if self.encoder_identity else 0,
        }

    @cached_property
    def names(self) -> np.ndarray:
        """Readable name of every column: the word n-gram, the character n-gram, or col=value."""
        parts = [_inverse(self.word.vocabulary_ if self.word else {})]
        parts.append(_inverse(self.char.vocabulary_ if self.char else {}))
        parts.append(_inverse(self.stem.vocabulary_ if self.stem else {}))
        if self.extra is not None:
            parts.append(np.asarray(self.extra.feature_names_, dtype=object))
        parts.append(
            np.array([f"embedding[{i}]" for i in range(self.sizes["embedding"])], dtype=object)
        )
        return np.concatenate(parts)

    def __setstate__(self, state: dict[str, object]) -> None:
        state.setdefault("encoder_identity", None)  # models saved before the encoder existed
        state.setdefault("piece_weights", None)  # ... and before the static embeddings
        state.setdefault("stem", None)  # ... and before the morphology block
        state.setdefault("morph", None)
        self.__dict__.update(state)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        for lazy in ("names", "_analyzers", "_char_grams"):
            state.pop(lazy, None)  # rebuilt on demand
        return state


class _WordCharGrams:
    """char_wb n-gram counts of a text, word by word, each word's columns looked up once.

    sklearn's char_wb analyzer makes every n-gram of every word a new string and looks each up;
    on a 3,000-character e-mail that is ~3 ms. The n-grams never cross a word boundary, so the
    columns of a word are the same wherever it occurs: cached per word (bounded), a text's
    counts are one concatenation and one np.unique. Same numbers as sklearn (a test keeps them
    equal).
    """

    MAX_WORDS = 200_000

    def __init__(self, vec: TfidfVectorizer) -> None:
        self.vocab = vec.vocabulary_
        self.lo, self.hi = vec.ngram_range
        self.words: dict[str, np.ndarray] = {}

    def _columns(self, word: str) -> np.ndarray:
        cols = self.words.get(word)
        if cols is None:
            padded = f" {word} "
            grams: list[str] = []
            for n in range(self.lo, self.hi + 1):
                grams.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
                if len(padded) <= n:  # a short word counts once, as sklearn does
                    break
            found = [j for j in map(self.vocab.get, grams) if j is not None]
            cols = np.array(found, dtype=np.int64)
            if len(self.words) >= self.MAX_WORDS:
                self.words.clear()
            self.words[word] = cols
        return cols

    def counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        parts = [self._columns(word) for word in text.split()]
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        idx, n = np.unique(np.concatenate(parts), return_counts=True)
        return idx, n.astype(np.float64)


def _tfidf_row(
    vec: TfidfVectorizer,
    analyze: Callable[[str], Any],
    text: str,
    offset: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of one text: (sublinear) tf times idf, L2-normalised.

    `analyze` gives the text's terms (sklearn's analyzer), or its (columns, counts) directly.
    """
    terms = analyze(text)
    if isinstance(terms, tuple):
        idx, val = terms
    else:
        vocab = vec.vocabulary_
        counts = Counter(j for j in map(vocab.get, terms) if j is not None)
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
