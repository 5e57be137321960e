"""How sure a benchmark margin is: ours against the reference on the same rows.

Issue 19 asks for ours >= the reference + 0.01 in accuracy and macro-F1 on every set. On a
small test split with many classes (ru_med_top3: 822 rows, 104 classes, ~5 rows a class) that
margin is about the size of the split's own noise, so the report shows, beside the point
numbers, two measurements of how much they can be trusted:

- a **paired bootstrap** of the test rows: both pipelines' predictions on the same resampled
  rows, the difference's standard deviation, its 5-95 % interval and the share of resamples in
  which the margin reaches +0.01 (roughly: how often another test split of this size would show
  the margin if the difference measured here were the true one);
- the two pipelines **cross-validated on the same folds** of the training rows (ours' own
  out-of-fold predictions, the reference refitted on each fold's other rows), which uses every
  training row instead of the test split alone.

Macro-F1 here is `classifier.metrics.class_metrics`'s: the mean F1 over the classes present in
the (resampled) true labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from classifier.metrics import accuracy_macro_f1

BOOTSTRAP_ROUNDS = 2000
# Ours must beat the plain reference by this much in accuracy and in macro-F1 on every set.
MARGIN = 0.01


def _codes(*columns: Sequence[str]) -> tuple[int, list[np.ndarray]]:
    names = sorted(set().union(*(set(c) for c in columns)))
    index = {n: i for i, n in enumerate(names)}
    return len(names), [np.array([index[v] for v in c], dtype=np.int64) for c in columns]


def _summary(diffs: np.ndarray, observed: float, margin: float) -> dict[str, float]:
    return {
        "difference": round(observed, 4),
        "sd": round(float(diffs.std(ddof=1)), 4),
        "low": round(float(np.percentile(diffs, 5)), 4),
        "high": round(float(np.percentile(diffs, 95)), 4),
        "share_at_margin": round(float((diffs >= margin - 1e-12).mean()), 4),
    }


def paired_bootstrap(
    labels: Sequence[str],
    ours: Sequence[str],
    reference: Sequence[str],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
    margin: float = MARGIN,
) -> dict[str, Any]:
    """Ours minus the reference in accuracy and macro-F1, resampling the rows both saw."""
    if not (len(labels) == len(ours) == len(reference)) or not labels:
        raise ValueError("the labels and both predictions must be non-empty and of one length")
    k, (truth, a, b) = _codes(labels, ours, reference)
    acc_a, f1_a = accuracy_macro_f1(truth, a, k)
    acc_b, f1_b = accuracy_macro_f1(truth, b, k)
    rng = np.random.default_rng(seed)
    diffs = np.empty((rounds, 2))
    for r in range(rounds):
        rows = rng.integers(0, len(truth), len(truth))
        sa, sb = (
            accuracy_macro_f1(truth[rows], a[rows], k),
            accuracy_macro_f1(truth[rows], b[rows], k),
        )
        diffs[r] = (sa[0] - sb[0], sa[1] - sb[1])
    return {
        "rounds": rounds,
        "accuracy": _summary(diffs[:, 0], acc_a - acc_b, margin),
        "macro_f1": _summary(diffs[:, 1], f1_a - f1_b, margin),
    }


def paired_scores(
    labels: Sequence[str], ours: Sequence[str], reference: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 of both on the same rows (e.g. out-of-fold over the training rows)."""
    k, (truth, a, b) = _codes(labels, ours, reference)
    result = {}
    for name, predicted in (("ours", a), ("reference", b)):
        acc, f1 = accuracy_macro_f1(truth, predicted, k)
        result[name] = {"accuracy": round(acc, 4), "macro_f1": round(f1, 4)}
    return result
