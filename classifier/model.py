"""The trained artefact: features + calibrated linear scorer + routing thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

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

    def __init__(
        self,
        *,
        features: Features,
        scorer: LinearScorer,
        classes: list[str],
        service_team: dict[str, str],
        thresholds: Thresholds,
        version: str = "",
    ) -> None:
        self.features = features
        self.scorer = scorer
        self.classes = list(classes)
        self.service_team = {c: service_team[c] for c in self.classes}
        self.thresholds = thresholds
        self.version = version
        self.teams, self.team_sum = team_matrix(self.classes, self.service_team)

    @property
    def extra_cols(self) -> list[str]:
        return self.features.extra_cols

    def transform(self, texts: Sequence[str], extras_list: Sequence[ExtrasIn] | None = None):
        extras = [dict(e or {}) for e in extras_list] if extras_list is not None else None
        originals = [t or "" for t in texts]
        return self.features.transform([normalise(t) for t in texts], extras, originals)

    def proba(self, texts: Sequence[str], extras_list: Sequence[ExtrasIn] | None = None):
        """Calibrated service probabilities, one row per text, columns in self.classes order."""
        return self.scorer.proba(self.transform(texts, extras_list))

    def predict(self, text: str, extras: ExtrasIn = None) -> Prediction:
        return self.predict_many([text], [extras])[0]

    def predict_many(
        self, texts: Sequence[str], extras_list: Sequence[ExtrasIn] | None = None
    ) -> list[Prediction]:
        X = self.transform(texts, extras_list)
        proba = self.scorer.proba(X)
        return [self._prediction(X[i], proba[i]) for i in range(len(texts))]

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

    def _prediction(self, x: sp.csr_matrix, proba: np.ndarray) -> Prediction:
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
            reasons=self.reasons(x, best),
            model_version=self.version,
        )

    def _candidate(self, index: int, probability: float) -> dict[str, Any]:
        code = self.classes[index]
        return {
            "service": code,
            "team": self.service_team[code],
            "probability": round(probability, 4),
        }

    def reasons(self, x: sp.csr_matrix, class_index: int) -> list[str]:
        """The terms with the largest positive contribution to the chosen service's score."""
        x = sp.csr_matrix(x)
        contrib = x.data * self.scorer.weights[x.indices, class_index]
        # The embedding's columns name nothing: they never take a reason's place.
        contrib[x.indices >= self.features.count_columns] = 0.0
        order = np.argsort(-contrib)
        n_word = self.features.sizes["word"]
        n_text = n_word + self.features.sizes["char"]
        names = self.features.names
        words: list[str] = []
        chars: list[str] = []
        for pos in order[: 4 * N_REASONS]:
            if contrib[pos] <= 0:
                break
            col = int(x.indices[pos])
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
        self.predict("warm up")


def _too_plain(term: str) -> bool:
    """Short function words ("не", "от", "to") and placeholder tokens explain nothing."""
    return " " not in term and (len(term) < 3 or term in _PLACEHOLDERS)
