"""Rare services and the team a request belongs to: a last shift of the service scores.

Issue 19: macro-F1 is lost on the rare services of noisy Russian data (ru_med_top3), where a
few dozen rows a service are too few for the service scores alone. Two corrections of the
final log-probabilities, both chosen on the out-of-fold probabilities of the training rows:

- **team smoothing**: plus `team_weight` times the log-probability of the service's team from a
  classifier of its own over the teams (a team has every row of its services to learn from, so
  it is sure of the team where the services are not); only where some team has two or more
  services, else it would repeat the service scores;
- **logit adjustment**: minus `prior_weight` times the log of the service's share of the
  training rows, so that a rare service is not outvoted by a frequent one on a tie.

The pair is the one of a small grid with the highest out-of-fold macro-F1 among those whose
out-of-fold accuracy is no lower than with no shift at all; where none raises macro-F1 by at
least `MIN_GAIN` there is no adjustment. Measured (docs/benchmarks.md, session 14): ru_med_top3
chooses team weight 0.5, prior weight 0.6; checked nested (chosen on four folds, applied to the
fifth) its out-of-fold macro-F1 goes 0.3544 -> 0.3721 and accuracy 0.4871 -> 0.4880. banking77,
clinc150 and it_service_tickets choose none.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import softmax

from classifier.linear import LinearScorer, ModelSpec, Progress, crossfit
from classifier.metrics import accuracy_macro_f1

TEAM_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
PRIOR_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
MIN_GAIN = 0.002
_FLOOR = 1e-12


@dataclass
class Adjustment:
    """The chosen shift: proba -> softmax(log proba + team_weight * log p(team) - prior_weight
    * log share). `team_scorer` reads the n-gram columns only (no sentence embedding)."""

    team_weight: float
    prior_weight: float
    log_share: np.ndarray  # (n_classes,)
    class_team: np.ndarray  # (n_classes,): the team scorer's column of each service
    team_scorer: LinearScorer | None = None

    def shift(self, proba: np.ndarray, team_proba: np.ndarray | None) -> np.ndarray:
        log_team = _log_team(team_proba, self.class_team) if self.team_weight else 0.0
        logits = _shifted(
            _log(proba), log_team, self.team_weight, self.prior_weight, self.log_share
        )
        return softmax(logits, axis=1)

    def apply(self, proba: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """`X`: the rows' n-gram columns (they may be followed by the embedding's)."""
        team_proba = None
        if self.team_weight and self.team_scorer is not None:
            n = self.team_scorer.weights.shape[0]
            team_proba = self.team_scorer.proba(X if X.shape[1] == n else X[:, :n])
        return self.shift(proba, team_proba)

    def as_dict(self) -> dict[str, Any]:
        return {"team_weight": self.team_weight, "prior_weight": self.prior_weight}


def _log(proba: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(proba, _FLOOR))


def _log_team(team_proba: np.ndarray | None, class_team: np.ndarray) -> np.ndarray | float:
    """Each service's column of its team's log-probability (0 without a team scorer)."""
    return 0.0 if team_proba is None else _log(team_proba)[:, class_team]


def _shifted(
    log_proba: np.ndarray,
    log_team: np.ndarray | float,
    team_weight: float,
    prior_weight: float,
    log_share: np.ndarray,
) -> np.ndarray:
    """The shifted log-scores: what the grid search ranks and what `Adjustment.shift` applies."""
    return log_proba + team_weight * log_team - prior_weight * log_share


@dataclass
class Chosen:
    """The shift chosen (None: none), and the out-of-fold and negatives' probabilities after it."""

    adjustment: Adjustment | None
    oof_proba: np.ndarray
    negative_proba: np.ndarray
    summary: dict[str, Any]


def choose_adjustment(
    oof_proba: np.ndarray,
    negative_proba: np.ndarray,
    y: np.ndarray,
    X: sp.csr_matrix,
    negatives: sp.csr_matrix,
    class_team: np.ndarray,
    spec: ModelSpec,
    progress: Progress = lambda _msg: None,
) -> Chosen:
    """Choose the shift on the out-of-fold probabilities (see the module's doc); returns it
    (None: no shift) with the out-of-fold and negatives' probabilities it gives."""
    k = oof_proba.shape[1]
    counts = np.bincount(y, minlength=k)
    log_share = np.log(np.maximum(counts, 1) / len(y))
    n_teams = int(class_team.max()) + 1 if len(class_team) else 0
    team_scorer, team_oof, team_neg = None, None, None
    team_weights: tuple[float, ...] = (0.0,)
    if 1 < n_teams < k:
        progress(f"fitting the team scorer ({n_teams} teams) for team smoothing")
        teams = crossfit(X, class_team[y], n_teams, spec, negatives=negatives)
        team_scorer, team_oof, team_neg = teams.scorer, teams.oof_proba, teams.negative_proba
        team_weights = TEAM_WEIGHTS
    base_acc, base_f1 = accuracy_macro_f1(y, oof_proba.argmax(axis=1), k)
    # Ties go to the first of the grid: the smallest team weight, then the smallest prior weight.
    best: tuple[float, float, float] = (base_f1 + MIN_GAIN - 1e-12, 0.0, 0.0)
    log_oof, log_team = _log(oof_proba), _log_team(team_oof, class_team)
    for lam, tau in itertools.product(team_weights, PRIOR_WEIGHTS):
        predicted = _shifted(log_oof, log_team, lam, tau, log_share).argmax(axis=1)
        acc, f1 = accuracy_macro_f1(y, predicted, k)
        if acc >= base_acc and f1 > best[0]:
            best = (f1, lam, tau)
    summary: dict[str, Any] = {
        "out_of_fold_before": {"accuracy": round(base_acc, 4), "macro_f1": round(base_f1, 4)}
    }
    _f1, lam, tau = best
    if lam == tau == 0.0:
        return Chosen(None, oof_proba, negative_proba, {**summary, "chosen": None})
    chosen = Adjustment(lam, tau, log_share, class_team, team_scorer if lam else None)
    oof = chosen.shift(oof_proba, team_oof)
    acc, f1 = accuracy_macro_f1(y, oof.argmax(axis=1), k)
    summary |= {
        "chosen": chosen.as_dict(),
        "out_of_fold_after": {"accuracy": round(acc, 4), "macro_f1": round(f1, 4)},
    }
    negative = chosen.shift(negative_proba, team_neg) if len(negative_proba) else negative_proba
    return Chosen(chosen, oof, negative, summary)
