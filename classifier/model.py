"""The trained artefact: features + calibrated linear scorer + routing thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from classifier.adjust import Adjustment
from classifier.features import Features
from classifier.linear import LinearScorer
from classifier.text import normalise
from classifier.thresholds import Thresholds, at_least, team_matrix

N_CANDIDATES = 3
N_REASONS = 5
_PLACEHOLDERS = frozenset({"numtok", "urltok", "emailtok", "phonetok", "cardtok", "accounttok"})
ExtrasIn = Mapping[str, Any] | None


@dataclass(frozen=True)
class Prediction:
    """What the classifier says about one text, and why."""

    decision: str  # "service" | "team" | "triage"
    service: str | None
    team: str | None
    confidence: float
    team_confidence: float
    candidates: list[dict[str, Any]]
    reasons: list[str]
    model_version: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class OknoModel:
    """Predicts the service of a request; the team follows from the catalogue stored inside."""

    # The encoder gate (classifier/gate.py): a scorer over the n-gram columns alone, and the
    # top probability from which its answer stands without the sentence encoder. None (and in
    # models saved before the gate existed): every request goes through `scorer`.
    fast_scorer: LinearScorer | None = None
    gate: float | None = None
    # The last shift of the probabilities (classifier/adjust.py): team smoothing and logit
    # adjustment. None (and in models saved before it existed): no shift.
    adjustment: Adjustment | None = None

    def __init__(
        self,
        *,
        features: Features,
        scorer: LinearScorer,
        classes: list[str],
        service_team: dict[str, str],
        thresholds: Thresholds,
        version: str = "",
        fast_scorer: LinearScorer | None = None,
        gate: float | None = None,
        adjustment: Adjustment | None = None,
    ) -> None:
        self.features = features
        self.scorer = scorer
        self.classes = list(classes)
        self.service_team = {c: service_team[c] for c in self.classes}
        self.thresholds = thresholds
        self.version = version
        self.teams, self.team_sum = team_matrix(self.classes, self.service_team)
        if fast_scorer is not None and gate is not None:
            self.fast_scorer, self.gate = fast_scorer, gate
        if adjustment is not None:
            self.adjustment = adjustment

    @property
    def extra_cols(self) -> list[str]:
        return self.features.extra_cols

    @property
    def gated(self) -> bool:
        """Whether requests the n-grams are sure of skip the sentence encoder."""
        return self.features.uses_encoder and self.fast_scorer is not None and self.gate is not None

    def scored(
        self, texts: Sequence[str], extras_list: Sequence[ExtrasIn] | None = None
    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Feature rows, calibrated probabilities, and which rows went through the encoder.

        Gated: the n-gram columns are built for every text and scored by `fast_scorer`; only
        the rows whose top probability is below the gate are encoded and scored by `scorer`.
        The feature rows returned are then the n-gram columns (all that reasons read).
        """
        extras = [dict(e or {}) for e in extras_list] if extras_list is not None else None
        originals = [t or "" for t in texts]
        normal = [normalise(t) for t in texts]
        encoded = np.full(len(texts), self.features.uses_encoder)
        if not self.gated:
            X = self.features.transform(normal, extras, originals)
            return X, self._adjusted(self.scorer.proba(X), X), encoded
        assert self.fast_scorer is not None and self.gate is not None
        X = self.features.transform(normal, extras, originals, embed=False)
        proba = self.fast_scorer.proba(X)
        encoded = proba.max(axis=1) < self.gate
        rows = np.nonzero(encoded)[0]
        if len(rows):
            dense = self.features.embed([originals[i] for i in rows])
            proba[rows] = self.scorer.proba(X if len(rows) == len(texts) else X[rows], dense)
        return X, self._adjusted(proba, X), encoded

    def _adjusted(self, proba: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        return proba if self.adjustment is None else self.adjustment.apply(proba, X)

    def proba(self, texts: Sequence[str], extras_list: Sequence[ExtrasIn] | None = None):
        """Calibrated service probabilities, one row per text, columns in self.classes order."""
        return self.scored(texts, extras_list)[1]

    def predict(self, text: str, extras: ExtrasIn = None) -> Prediction:
        return self.predict_many([text], [extras])[0]

    def predict_many(
        self, texts: Sequence[str], extras_list: Sequence[ExtrasIn] | None = None
    ) -> list[Prediction]:
        X, proba, encoded = self.scored(texts, extras_list)
        fast = self.fast_scorer if self.gated else None
        return [
            self._prediction(
                _row(X, i), proba[i], self.scorer if encoded[i] or fast is None else fast
            )
            for i in range(len(texts))
        ]

    def decide(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised routing: (decision codes 2=service 1=team 0=triage, top class, top team)."""
        top = proba.argmax(axis=1)
        conf = proba.max(axis=1)
        team_proba = proba @ self.team_sum
        top_team = team_proba.argmax(axis=1)
        t_service = np.inf if self.thresholds.service is None else self.thresholds.service
        t_team = np.inf if self.thresholds.team is None else self.thresholds.team
        decision = np.where(conf >= t_service, 2, np.where(team_proba.max(axis=1) >= t_team, 1, 0))
        return decision, top, top_team

    def _prediction(
        self, x: tuple[np.ndarray, np.ndarray], proba: np.ndarray, scorer: LinearScorer
    ) -> Prediction:
        order = np.argsort(-proba)[:N_CANDIDATES]
        best = int(order[0])
        service = self.classes[best]
        confidence = float(proba[best])
        team_proba = proba @ self.team_sum
        team_idx = int(team_proba.argmax())
        team_conf = float(team_proba[team_idx])
        if at_least(confidence, self.thresholds.service):
            decision, chosen, team = "service", service, self.service_team[service]
        elif at_least(team_conf, self.thresholds.team):
            decision, chosen, team = "team", None, self.teams[team_idx]
        else:
            decision, chosen, team = "triage", None, None
        return Prediction(
            decision=decision,
            service=chosen,
            team=team,
            confidence=round(confidence, 4),
            team_confidence=round(team_conf, 4),
            candidates=[self._candidate(int(i), float(proba[i])) for i in order],
            reasons=self.reasons(*x, best, scorer),
            model_version=self.version,
        )

    def _candidate(self, index: int, probability: float) -> dict[str, Any]:
        code = self.classes[index]
        return {
            "service": code,
            "team": self.service_team[code],
            "probability": round(probability, 4),
        }

    def reasons(
        self,
        indices: np.ndarray,
        data: np.ndarray,
        class_index: int,
        scorer: LinearScorer | None = None,
    ) -> list[str]:
        """The terms with the largest positive contribution to the chosen service's score
        (under `scorer`, the one that decided: the model's own unless the gate's), from one
        feature row's column indices and values."""
        weights = (scorer or self.scorer).weights
        contrib = data * weights[indices, class_index]
        # The embedding's columns name nothing: they never take a reason's place.
        contrib[indices >= self.features.count_columns] = 0.0
        order = np.lexsort((indices, -contrib))  # ties by column: the same on every path
        n_word = self.features.sizes["word"]
        n_text = n_word + self.features.sizes["char"]
        names = self.features.names
        words: list[str] = []
        chars: list[str] = []
        for pos in order[: 4 * N_REASONS]:
            if contrib[pos] <= 0:
                break
            col = int(indices[pos])
            term = str(names[col]).strip()
            if not n_word <= col < n_text and _too_plain(term):
                continue
            (words if col < n_word or col >= n_text else chars).append(term)
        picked = list(dict.fromkeys(words))[:N_REASONS]
        for gram in dict.fromkeys(chars):
            if len(picked) >= N_REASONS:
                break
            if gram and not any(gram in term for term in picked):
                picked.append(gram)
        return picked

    def warm(self) -> None:
        """Build lazy lookups now so the first real prediction is as fast as the rest."""
        _ = self.features.names
        if self.features.uses_encoder:
            self.features.encoder()  # builds or reads the encoder graph; fails loudly here
            self.features.embed(["warm up"])  # its first pass, which a gated predict may skip
        self.predict("warm up")


def _row(X: sp.csr_matrix, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Row i of X as (column indices, values), views of X's arrays: building a one-row matrix
    (X[i], or the csr_matrix constructor) validates and copies, ~40-60 µs each."""
    start, end = X.indptr[i], X.indptr[i + 1]
    return X.indices[start:end], X.data[start:end]


def _too_plain(term: str) -> bool:
    """Short function words ("не", "от", "to") and placeholder tokens explain nothing."""
    return " " not in term and (len(term) < 3 or term in _PLACEHOLDERS)
