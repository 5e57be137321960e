"""Cross-fitted linear models folded into one calibrated linear scorer.

Each base model (LinearSVC, multinomial naive Bayes, optionally multinomial logistic
regression) is fitted on K folds. Its
out-of-fold scores get a softmax temperature; the scaled scores of all base models are
averaged and given a final temperature. Averaging linear models is again a linear model, so
the artefact is one weight matrix: fast to apply, easy to explain, and its out-of-fold
probabilities are honest validation data for choosing the routing thresholds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import MultinomialNB
from sklearn.svm import LinearSVC

Progress = Callable[[str], None]
_ABSENT = -1e4  # score of a class a fold never saw: softmax gives it ~0


@dataclass(frozen=True)
class ModelSpec:
    # LinearSVC's C: with several values, the first fold picks the one that predicts its
    # held-out rows best (short requests like C=1, long e-mails less).
    svc_c: tuple[float, ...] = (0.35, 1.0)
    nb_alpha: float | None = 0.03
    lr_c: float | None = None
    lr_max_iter: int = 30
    folds: int = 5
    # Above this many rows three folds already give plenty of validation data, and time.
    many_rows: int = 20_000
    seed: int = 42
    # Refit each base model on all rows for the artefact (folds then only calibrate and
    # validate); otherwise the artefact is the average of the fold models. None: refit up to
    # `many_rows` rows; above, the average of three folds is as good and saves a whole fit.
    refit: bool | None = None
    # Rare services must not lose to frequent ones: LinearSVC's class weights ("balanced":
    # inversely to the class's share; "auto": balanced while the classes have at least
    # `balanced_from` rows on average, none below) and naive Bayes' class prior (False:
    # uniform). Measured (docs/benchmarks.md): balanced lifts macro-F1 where each class has
    # thousands of rows (it_service_tickets), and costs both accuracy and macro-F1 where a class
    # has a few dozen noisy ones (ru_med_top3): there it makes a handful of rows decide.
    svc_class_weight: str | None = "auto"
    balanced_from: int = 100
    nb_fit_prior: bool = True
    # What picks LinearSVC's C on the first fold: "accuracy" or "macro_f1".
    pick_by: str = "accuracy"
    # Keep the blend only where its out-of-fold macro-F1 is at least that of the best single
    # base model; otherwise that model alone (temperature-scaled). The log-loss-fitted blend
    # can let an over-confident naive Bayes decide the argmax on noisy, rare-class-heavy data.
    blend_guard: bool = True

    def refits(self, n_rows: int) -> bool:
        return self.refit if self.refit is not None else n_rows <= self.many_rows

    def class_weight(self, n_rows: int, n_classes: int) -> str | None:
        """LinearSVC's class_weight for this many rows and classes ("auto" resolved)."""
        if self.svc_class_weight != "auto":
            return self.svc_class_weight
        return "balanced" if n_rows >= self.balanced_from * max(n_classes, 1) else None

    def bases(self, n_rows: int = 0, n_classes: int = 1) -> dict[str, list[ClassifierMixin]]:
        """Each base model's candidate settings (one or more) for this many rows and classes."""
        models: dict[str, list[ClassifierMixin]] = {}
        weight = self.class_weight(n_rows, n_classes)
        if self.svc_c:
            models["svc"] = [
                LinearSVC(C=c, class_weight=weight, random_state=self.seed) for c in self.svc_c
            ]
        if self.nb_alpha:
            models["nb"] = [MultinomialNB(alpha=self.nb_alpha, fit_prior=self.nb_fit_prior)]
        if self.lr_c:
            models["lr"] = [LogisticRegression(
                C=self.lr_c, solver="saga", max_iter=self.lr_max_iter, tol=1e-3,
                random_state=self.seed,
            )]  # fmt: skip
        if not models:
            raise ValueError("the model spec enables no base model")
        return models

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class LinearScorer:
    """softmax(X @ weights + bias): the whole fitted classifier after the features."""

    weights: np.ndarray  # (n_features, n_classes), float32
    bias: np.ndarray  # (n_classes,)

    def logits(self, X: sp.csr_matrix, dense: np.ndarray | None = None) -> np.ndarray:
        """Scores of the rows of X; `dense`, if given, is their last columns as a dense block
        (the sentence embedding), so that a caller need not stack it onto the sparse rows
        (scipy's hstack cost ~0.25 ms a request, more than this product)."""
        if dense is None:
            return np.asarray(X @ self.weights, dtype=np.float64) + self.bias
        n = X.shape[1]
        sparse_part = np.asarray(X @ self.weights[:n], dtype=np.float64)
        return sparse_part + np.asarray(dense @ self.weights[n:], dtype=np.float64) + self.bias

    def proba(self, X: sp.csr_matrix, dense: np.ndarray | None = None) -> np.ndarray:
        return softmax(self.logits(X, dense), axis=1)


@dataclass
class CrossFit:
    scorer: LinearScorer
    oof_proba: np.ndarray
    negative_proba: np.ndarray
    scales: dict[str, float] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)


@dataclass
class _Sums:
    weights: np.ndarray
    bias: np.ndarray
    seen: np.ndarray
    oof: np.ndarray
    neg: np.ndarray
    params: str = ""


def _log_loss(scores: np.ndarray, y: np.ndarray) -> float:
    logp = log_softmax(scores, axis=1)[np.arange(len(y)), y]
    return float(-np.maximum(logp, -50.0).mean())


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The T that minimises the log loss of softmax(scores / T) on labels y."""
    best = minimize_scalar(
        lambda log_t: _log_loss(scores / np.exp(log_t), y), bounds=(-7.0, 5.0), method="bounded"
    )
    return float(np.exp(best.x))


def fit_scales(scores: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Non-negative weights a_m minimising the log loss of softmax(sum a_m * scores_m).

    One model: plain temperature scaling. Several: a stacked blend whose weights say how much
    each model is worth on this data, found on out-of-fold scores.
    """
    start = np.array([1.0 / fit_temperature(s, y) / len(scores) for s in scores])
    if len(scores) == 1:
        return start

    def loss(log_a: np.ndarray) -> float:
        return _log_loss(sum(np.exp(la) * s for la, s in zip(log_a, scores, strict=True)), y)

    best = minimize(
        loss, np.log(start), method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-5}
    )
    return np.exp(best.x)


def _macro_f1(scores: np.ndarray, y: np.ndarray) -> float:
    return float(f1_score(y, scores.argmax(axis=1), average="macro"))


def _guard_blend(scales: np.ndarray, scores: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """The blend's scales, or one base model's own temperature if it alone does better."""
    if len(scores) < 2:
        return scales
    blended = _macro_f1(sum(a * s for a, s in zip(scales, scores, strict=True)), y)
    singles = [_macro_f1(s, y) for s in scores]
    best = int(np.argmax(singles))
    if singles[best] <= blended:
        return scales
    alone = np.zeros(len(scores))
    alone[best] = 1.0 / fit_temperature(scores[best], y)
    return alone


def _linear_params(model: ClassifierMixin) -> tuple[np.ndarray, np.ndarray]:
    """Weights and intercepts of a fitted linear classifier (naive Bayes included)."""
    if isinstance(model, MultinomialNB):
        return np.asarray(model.feature_log_prob_), np.asarray(model.class_log_prior_)
    return np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)


def _fit_one(
    base: ClassifierMixin, X: sp.csr_matrix, y: np.ndarray, n_classes: int, count_cols: int
):
    model = clone(base)
    # Naive Bayes models counts: it sees only the leading TF-IDF/one-hot columns, never the
    # (signed) sentence embedding, whose weights stay zero in its share of the blend.
    narrow = isinstance(model, MultinomialNB) and count_cols < X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:, :count_cols] if narrow else X, y)
    coef, intercept = _linear_params(model)
    if narrow:
        coef = np.hstack([coef, np.zeros((coef.shape[0], X.shape[1] - count_cols))])
    if (
        coef.shape[0] == 1 and len(model.classes_) == 2
    ):  # binary: one score s becomes logits (-s/2, s/2)
        coef = np.vstack([-coef, coef]) / 2
        intercept = np.array([-intercept[0], intercept[0]]) / 2
    weights = np.zeros((X.shape[1], n_classes))
    bias = np.full(n_classes, _ABSENT)
    weights[:, model.classes_] = coef.T
    bias[model.classes_] = intercept
    return weights, bias, model.classes_


def _describe(model: ClassifierMixin) -> str:
    keys = ("C", "alpha", "class_weight")
    params = model.get_params()
    return ", ".join(f"{k}={params[k]}" for k in keys if params.get(k) is not None)


def cv_folds(y: np.ndarray, spec: ModelSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    n_folds = spec.folds if len(y) <= spec.many_rows else min(spec.folds, 3)
    n_folds = max(2, min(n_folds, len(y) // 2))
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=spec.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class rarer than the fold count
        return list(splitter.split(np.zeros(len(y)), y))


def _pick(
    candidates: list[ClassifierMixin],
    X: sp.csr_matrix,
    y: np.ndarray,
    fold: tuple[np.ndarray, np.ndarray],
    n_classes: int,
    count_cols: int,
    pick_by: str = "accuracy",
) -> tuple[ClassifierMixin, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The candidate with the best accuracy (or macro-F1) on the fold's held-out rows, and its fit."""
    train, held = fold
    best: tuple[float, ClassifierMixin, Any] | None = None
    for candidate in candidates:
        fit = _fit_one(candidate, X[train], y[train], n_classes, count_cols)
        predicted = (X[held] @ fit[0] + fit[1]).argmax(axis=1)
        score = (
            float(f1_score(y[held], predicted, average="macro"))
            if pick_by == "macro_f1"
            else float((predicted == y[held]).mean())
        )
        if best is None or score > best[0]:
            best = (score, candidate, fit)
    assert best is not None
    return best[1], best[2]


def _run_base(
    name: str,
    candidates: list[ClassifierMixin],
    X: sp.csr_matrix,
    y: np.ndarray,
    negatives: sp.csr_matrix,
    n_classes: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    spec: ModelSpec,
    progress: Progress,
    count_cols: int,
) -> _Sums:
    n_feat = X.shape[1]
    sums = _Sums(
        weights=np.zeros((n_feat, n_classes)),
        bias=np.zeros(n_classes),
        seen=np.zeros(n_classes),
        oof=np.full((X.shape[0], n_classes), _ABSENT),
        neg=np.full((negatives.shape[0], n_classes), _ABSENT),
    )
    base = candidates[0]
    fold_norms = []
    for k, (train, held) in enumerate(folds):
        progress(f"fitting {name} on fold {k + 1}/{len(folds)} ({len(train)} rows)")
        if len(np.unique(y[train])) < 2:
            continue
        if k == 0 and len(candidates) > 1:
            base, (weights, bias, present) = _pick(
                candidates, X, y, folds[0], n_classes, count_cols, spec.pick_by
            )
            sums.params = _describe(base)
        else:
            weights, bias, present = _fit_one(base, X[train], y[train], n_classes, count_cols)
        sums.oof[held] = np.asarray(X[held] @ weights) + bias
        mine = np.arange(negatives.shape[0]) % len(folds) == k
        if mine.any():
            sums.neg[mine] = np.asarray(negatives[mine] @ weights) + bias
        fold_norms.append(np.linalg.norm(weights[:, present]))
        if not spec.refits(X.shape[0]):
            sums.weights[:, present] += weights[:, present]
            sums.bias[present] += bias[present]
            sums.seen[present] += 1
    sums.params = sums.params or _describe(base)
    if spec.refits(X.shape[0]):
        progress(f"fitting {name} on all {X.shape[0]} rows")
        weights, bias, present = _fit_one(base, X, y, n_classes, count_cols)
        # More rows give larger weights and surer scores than the fold models had; the
        # calibration was fitted on those, so bring the refit model back to their scale.
        full = np.linalg.norm(weights[:, present])
        shrink = float(np.mean(fold_norms) / full) if fold_norms and full > 0 else 1.0
        sums.weights, sums.bias = weights * shrink, np.where(bias > _ABSENT, bias * shrink, bias)
        sums.seen[present] = 1
    return sums


def crossfit(
    X: sp.csr_matrix,
    y: np.ndarray,
    n_classes: int,
    spec: ModelSpec,
    *,
    negatives: sp.csr_matrix | None = None,
    count_cols: int | None = None,
    progress: Progress = lambda _msg: None,
) -> CrossFit:
    """Fit the base models fold by fold and fold them into one calibrated LinearScorer.

    `count_cols`: how many leading columns are non-negative counts (TF-IDF, one-hot extras);
    the rest (a sentence embedding) are signed and only the discriminative models use them.
    """
    count_cols = X.shape[1] if count_cols is None else count_cols
    negatives = negatives if negatives is not None else sp.csr_matrix((0, X.shape[1]))
    folds = cv_folds(y, spec)
    runs = {
        name: _run_base(name, cands, X, y, negatives, n_classes, folds, spec, progress, count_cols)
        for name, cands in spec.bases(len(y), n_classes).items()
    }
    progress("calibrating on out-of-fold scores")
    scales = fit_scales([r.oof for r in runs.values()], y)
    if spec.blend_guard:
        scales = _guard_blend(scales, [r.oof for r in runs.values()], y)
    combined_oof = sum(a * r.oof for a, r in zip(scales, runs.values(), strict=True))
    combined_neg = sum(a * r.neg for a, r in zip(scales, runs.values(), strict=True))
    weights = np.zeros((X.shape[1], n_classes))
    bias = np.zeros(n_classes)
    for a, r in zip(scales, runs.values(), strict=True):
        seen = np.maximum(r.seen, 1)
        weights += a * r.weights / seen
        bias += a * np.where(r.seen > 0, r.bias / seen, _ABSENT)
    # Subtracting each feature's mean over classes changes no softmax output, and makes a
    # positive weight mean "this term speaks for this class" (what reasons report).
    weights -= weights.mean(axis=1, keepdims=True)
    return CrossFit(
        scorer=LinearScorer(weights=weights.astype(np.float32), bias=bias),
        oof_proba=softmax(combined_oof, axis=1),
        negative_proba=softmax(np.asarray(combined_neg), axis=1),
        scales={name: round(float(a), 5) for name, a in zip(runs, scales, strict=True)},
        chosen={name: r.params for name, r in runs.items()},
    )
