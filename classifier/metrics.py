"""Evaluation of a model on labelled data: what the registry stores and the CLI prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

if TYPE_CHECKING:  # the training modules below the model import this one
    from classifier.model import OknoModel


def _share(mask: np.ndarray) -> float:
    return round(float(mask.mean()), 4) if len(mask) else 0.0


def _precision(correct: np.ndarray, mask: np.ndarray) -> float | None:
    return round(float(correct[mask].mean()), 4) if mask.any() else None


def routing_metrics(model: OknoModel, proba: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy and the routing outcome: covered share and its precision, team and triage shares."""
    decision, top, top_team = model.decide(proba)
    predicted = np.array([model.classes[i] for i in top], dtype=object)
    truth = np.array(labels, dtype=object)
    correct = predicted == truth
    true_team = np.array([model.service_team.get(lb, "") for lb in labels], dtype=object)
    team_correct = np.array([model.teams[i] for i in top_team], dtype=object) == true_team
    covered, to_team = decision == 2, decision == 1
    return {
        "n": len(labels),
        "accuracy": _share(correct),
        "coverage": _share(covered),
        "precision_on_covered": _precision(correct, covered),
        "team_triage_share": _share(to_team),
        "team_precision_on_team_triage": _precision(team_correct, to_team),
        "central_triage_share": _share(decision == 0),
        "team_accuracy": _share(team_correct),
        "predicted": predicted.tolist(),
    }


def accuracy_macro_f1(y: np.ndarray, predicted: np.ndarray, k: int) -> tuple[float, float]:
    """Accuracy and macro-F1 of class indices below k, macro-F1 as `class_metrics` computes it
    (the mean F1 over the classes present in `y`), vectorised for grids and resamples."""
    hit = y == predicted
    tp = np.bincount(y[hit], minlength=k)
    true_n, pred_n = np.bincount(y, minlength=k), np.bincount(predicted, minlength=k)
    present = true_n > 0
    return float(hit.mean()), float((2 * tp[present] / (true_n[present] + pred_n[present])).mean())


def class_metrics(labels: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    names = sorted(set(labels) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(labels, predicted, labels=names, zero_division=0.0)
    present = [i for i, n in enumerate(names) if n in set(labels)]
    matrix = confusion_matrix(labels, predicted, labels=names)
    return {
        "macro_f1": round(float(np.mean(f[present])), 4) if present else 0.0,
        "per_class": {
            n: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, n in enumerate(names)
        },
        "confusion": {"labels": names, "matrix": matrix.tolist()},
    }


def evaluate(
    model: OknoModel,
    texts: Sequence[str],
    labels: Sequence[str],
    extras: Sequence[dict[str, str | None]] | None = None,
) -> dict[str, Any]:
    """Every metric of model on the given labelled texts."""
    proba = model.proba(texts, extras)
    routing = routing_metrics(model, proba, labels)
    predicted = routing.pop("predicted")
    result = {**routing, **class_metrics(labels, predicted)}
    result["thresholds"] = model.thresholds.as_dict()
    return result


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers worth a line: n, accuracy, macro-F1, coverage and its precision."""
    keys = ("n", "accuracy", "macro_f1", "coverage", "precision_on_covered")
    return {k: metrics.get(k) for k in keys}


def confusion_highlights(metrics: dict[str, Any], limit: int = 10) -> list[tuple[str, str, int]]:
    """The most frequent (true, predicted) mix-ups."""
    names = metrics["confusion"]["labels"]
    matrix = np.asarray(metrics["confusion"]["matrix"])
    np.fill_diagonal(matrix, 0)
    pairs = [
        (names[i], names[j], int(matrix[i, j])) for i, j in zip(*np.nonzero(matrix), strict=True)
    ]
    return sorted(pairs, key=lambda t: -t[2])[:limit]
