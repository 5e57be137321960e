"""Routing thresholds: the lowest confidence that still keeps precision at the target."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Thresholds:
    """Confidence needed to route to a service, and to a team's triage; None means never."""

    service: float | None
    team: float | None
    target_precision: float

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def wilson_lower(precision: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """One-sided Wilson lower confidence bound of a proportion measured on n rows."""
    if z <= 0:
        return precision
    z2 = z * z
    centre = precision + z2 / (2 * n)
    spread = z * np.sqrt(precision * (1 - precision) / n + z2 / (4 * n * n))
    return (centre - spread) / (1 + z2 / n)


def choose_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float,
    weights: np.ndarray | None = None,
    z: float = 0.0,
) -> float | None:
    """Lowest threshold whose accepted share has (weighted) precision >= target, or None.

    Sorting by confidence and taking the deepest prefix that still meets the target maximises
    the share routed automatically under the precision constraint. With z > 0 the precision
    must hold for the lower confidence bound, not just the point estimate: a few hundred
    validation rows must not promise more than they can show.
    """
    if len(confidence) == 0:
        return None
    w = np.ones(len(confidence)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(-confidence, kind="stable")
    conf, ok, w = confidence[order], correct[order].astype(float), w[order]
    total = np.cumsum(w)
    precision = np.cumsum(ok * w) / total
    precision = wilson_lower(precision, total**2 / np.cumsum(w * w), z)
    # Ties must be accepted or refused together: only cut where the confidence changes.
    cut = np.r_[conf[1:] < conf[:-1], True]
    good = np.nonzero((precision >= target) & cut)[0]
    return float(conf[good[-1]]) if len(good) else None


def negative_floor(negative_conf: np.ndarray, to_triage: float, z: float = 0.0) -> float | None:
    """Lowest service threshold that keeps `to_triage` of the out-of-scope examples unrouted.

    Precision alone lets out-of-scope requests through in proportion to how rare they are; a
    helpdesk also wants a floor on how many requests that match no service reach a person.
    With z > 0 the floor must hold for the upper confidence bound of the routed share: 200
    examples must not promise more than they can show.
    """
    n = len(negative_conf)
    if n == 0:
        return None
    conf = np.sort(negative_conf)[::-1]
    routed = np.arange(n + 1) / n  # share routed when the top k (k = 0..n) clear the threshold
    upper = 1 - wilson_lower(1 - routed, np.full(n + 1, float(n)), z)
    allowed = int(np.nonzero(upper <= 1 - to_triage + 1e-12)[0].max(initial=0))
    if allowed >= n:
        return None
    # Route at most `allowed` of them: the threshold must lie above the next one's confidence.
    return float(np.nextafter(conf[allowed], np.inf))


def team_matrix(classes: list[str], service_team: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """Teams in order and the (n_classes, n_teams) 0/1 matrix that sums services into teams."""
    teams = sorted({service_team[c] for c in classes})
    matrix = np.zeros((len(classes), len(teams)), dtype=np.float64)
    for i, c in enumerate(classes):
        matrix[i, teams.index(service_team[c])] = 1.0
    return teams, matrix


def select_thresholds(
    proba: np.ndarray,
    y: np.ndarray,
    team_of_class: np.ndarray,
    team_sum: np.ndarray,
    target: float,
    weights: np.ndarray | None = None,
    z: float = 0.0,
    negative_to_triage: float | None = None,
) -> Thresholds:
    """Service threshold on all validation rows; team threshold on the rows left below it.

    y holds class indices, or -1 for examples that belong to no service (out of scope):
    routing them anywhere counts as a mistake. With `negative_to_triage`, the service threshold
    is also raised until that share of the out-of-scope examples stays below it.
    """
    w = np.ones(len(y)) if weights is None else weights
    top = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    service = choose_threshold(conf, top == y, target, w, z)
    if service is not None and negative_to_triage is not None:
        floor = negative_floor(conf[y < 0], negative_to_triage, z)
        service = max(service, floor) if floor is not None else service
    rest = conf < service if service is not None else np.ones(len(y), dtype=bool)
    team_proba = proba[rest] @ team_sum
    true_team = np.where(y[rest] >= 0, team_of_class[np.maximum(y[rest], 0)], -1)
    team_ok = team_proba.argmax(axis=1) == true_team
    team = choose_threshold(team_proba.max(axis=1), team_ok, target, w[rest], z)
    return Thresholds(service=service, team=team, target_precision=target)


def at_least(value: float, threshold: float | None) -> bool:
    return threshold is not None and value >= threshold
