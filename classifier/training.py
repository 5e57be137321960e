"""Training: split, fit features and the cross-fitted scorer, choose thresholds, evaluate,
refit on every row."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from classifier.adjust import choose_adjustment
from classifier.dataset import Dataset
from classifier.encoder import Tick
from classifier.features import Features, FeatureSpec
from classifier.gate import cascade, choose_gate
from classifier.linear import ModelSpec, Progress, crossfit
from classifier.metrics import class_metrics, evaluate, routing_metrics
from classifier.model import OknoModel
from classifier.text import normalise
from classifier.thresholds import Thresholds, select_thresholds, team_matrix


@dataclass(frozen=True)
class TrainConfig:
    target_precision: float = 0.95
    test_size: float = 0.2
    seed: int = 42
    features: FeatureSpec = field(default_factory=FeatureSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    # Share of out-of-scope requests expected in live traffic; weighs the negatives (if any)
    # when thresholds are chosen. None: count them as they come.
    negative_share: float | None = None
    # Thresholds must reach the target precision at this one-sided confidence (z of 1.645 is
    # 95%), judged on the out-of-fold validation predictions; 0 uses the point estimate.
    confidence_z: float = 1.645
    # When out-of-scope examples are given: at least this share of them must go to triage
    # (not to a service), whatever the precision target would allow. None: no such floor.
    negative_to_triage: float | None = 0.85
    # With the sentence encoder: also fit a scorer on the n-gram columns alone and skip the
    # encoder for requests it is sure of (classifier/gate.py). True: at the lowest gate that
    # costs nothing out of fold; a number: at that gate; False: never (every request encoded).
    encoder_gate: bool | float = True
    # Team smoothing and logit adjustment of the final scores (classifier/adjust.py), chosen
    # out of fold and kept only where they raise macro-F1 at no cost in accuracy.
    class_adjustment: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_precision": self.target_precision,
            "test_size": self.test_size,
            "seed": self.seed,
            "features": self.features.as_dict(),
            "model": self.model.as_dict(),
            "negative_share": self.negative_share,
            "confidence_z": self.confidence_z,
            "negative_to_triage": self.negative_to_triage,
            "encoder_gate": self.encoder_gate,
            "class_adjustment": self.class_adjustment,
        }


@dataclass
class Validation:
    """Out-of-fold probabilities of the training rows (and of out-of-scope negatives)."""

    oof: np.ndarray
    negatives: np.ndarray
    y: np.ndarray

    def thresholds(
        self,
        classes: list[str],
        service_team: dict[str, str],
        target: float,
        negative_share: float | None = None,
        z: float = 0.0,
        negative_to_triage: float | None = None,
    ) -> Thresholds:
        _teams, team_sum = team_matrix(classes, service_team)
        proba = np.vstack([self.oof, self.negatives])
        y_all = np.r_[self.y, np.full(len(self.negatives), -1)]
        weights = _negative_weights(len(self.y), len(self.negatives), negative_share)
        return select_thresholds(
            proba, y_all, team_sum.argmax(axis=1), team_sum, target, weights,
            z=z, negative_to_triage=negative_to_triage,
        )  # fmt: skip


@dataclass
class TrainResult:
    """The registered model (fitted on every row) and the evaluation that preceded it.

    `metrics` are those of a model fitted on `train` and tested on `holdout` (empty when
    nothing was held back); `model` was then refitted on train + holdout, its thresholds chosen
    on out-of-fold scores over all rows (`info["oof"]` sums those up).
    """

    model: OknoModel
    metrics: dict[str, Any]
    info: dict[str, Any]
    train: Dataset
    holdout: Dataset


def stratified_split(
    labels: Sequence[str], test_size: float, seed: int
) -> tuple[list[int], list[int]]:
    """Per label, hold back round(n * test_size) rows (at least one, never all) for testing."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    train: list[int] = []
    test: list[int] = []
    for label in sorted(by_label):
        rows = list(rng.permutation(by_label[label]))
        n_test = min(len(rows) - 1, max(1, round(len(rows) * test_size))) if test_size > 0 else 0
        test.extend(int(i) for i in rows[:n_test])
        train.extend(int(i) for i in rows[n_test:])
    return sorted(train), sorted(test)


def _negative_weights(n_pos: int, n_neg: int, share: float | None) -> np.ndarray:
    w_neg = 1.0 if share is None or n_neg == 0 else share / (1 - share) * n_pos / n_neg
    return np.r_[np.ones(n_pos), np.full(n_neg, w_neg)]


def fit_model(
    train: Dataset,
    service_team: dict[str, str],
    config: TrainConfig,
    *,
    negatives: Sequence[str] = (),
    progress: Progress = lambda _msg: None,
    tick: Tick | None = None,
) -> tuple[OknoModel, dict[str, Any], Validation]:
    """Fit on all of train; out-of-fold predictions choose the thresholds."""
    started = time.perf_counter()
    progress(f"normalising {len(train)} texts")
    texts = [normalise(t) for t in train.texts]
    extra_cols = list(train.extras[0]) if train.extras else []
    progress("building word and character n-gram features (and sentence embeddings)")
    spec = config.features
    n_labels = len(set(train.labels))
    if spec.min_df is None and len(train) < spec.few_per_class * n_labels:
        spec = replace(spec, min_df=1)
    features = Features(spec, extra_cols)
    X = features.fit_transform(texts, train.extras, train.texts, tick)
    classes = sorted(set(train.labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[lb] for lb in train.labels])
    neg_X = features.transform(
        [normalise(t) for t in negatives], [{}] * len(negatives), list(negatives)
    )
    fitted = crossfit(
        X, y, len(classes), config.model,
        negatives=neg_X, count_cols=features.count_columns, progress=progress,
    )  # fmt: skip
    validation = Validation(fitted.oof_proba, fitted.negative_proba, y)
    fast, choice = None, None
    if features.uses_encoder and config.encoder_gate is not False:
        n = features.count_columns
        progress("fitting the n-gram-only scorer for the encoder gate")
        fast = crossfit(
            X[:, :n], y, len(classes), config.model,
            negatives=neg_X[:, :n], count_cols=n, progress=progress,
        )  # fmt: skip
        fixed = None if config.encoder_gate is True else float(config.encoder_gate)
        choice = choose_gate(fast.oof_proba, fitted.oof_proba, y, fixed=fixed)
        progress(
            f"encoder gate: {choice.gate} (encoder skipped for {choice.skipped:.0%} out of fold)"
        )
        if choice.gate is not None:
            validation = Validation(
                cascade(fast.oof_proba, fitted.oof_proba, choice.gate),
                cascade(fast.negative_proba, fitted.negative_proba, choice.gate),
                y,
            )
    adjusted = None
    if config.class_adjustment:
        n = features.count_columns
        grams, neg_grams = (X, neg_X) if X.shape[1] == n else (X[:, :n], neg_X[:, :n])
        class_team = team_matrix(classes, service_team)[1].argmax(axis=1)
        adjusted = choose_adjustment(
            validation.oof, validation.negatives, y, grams, neg_grams, class_team,
            config.model, progress,
        )  # fmt: skip
        validation = Validation(adjusted.oof_proba, adjusted.negative_proba, y)
    thresholds = validation.thresholds(
        classes, service_team, config.target_precision, config.negative_share,
        config.confidence_z, config.negative_to_triage,
    )  # fmt: skip
    model = OknoModel(
        features=features,
        scorer=fitted.scorer,
        classes=classes,
        service_team=service_team,
        thresholds=thresholds,
        fast_scorer=fast.scorer if fast is not None else None,
        gate=choice.gate if choice is not None else None,
        adjustment=adjusted.adjustment if adjusted is not None else None,
    )
    info = {
        "training_seconds": round(time.perf_counter() - started, 2),
        "n_train": len(train),
        "n_negatives": len(negatives),
        "n_classes": len(classes),
        "n_features": int(X.shape[1]),
        "feature_sizes": features.sizes,
        "encoder": features.encoder_identity,
        "blend_weights": fitted.scales,
        "base_models": fitted.chosen,
        "encoder_gate": choice.as_dict() if choice is not None else None,
        "class_adjustment": adjusted.summary if adjusted is not None else None,
    }
    return model, info, validation


def oof_summary(validation: Validation, classes: list[str], model: OknoModel) -> dict[str, Any]:
    """Accuracy, macro-F1 and routing of the out-of-fold predictions the thresholds were set on."""
    predicted = [classes[i] for i in validation.oof.argmax(axis=1)]
    truth = [classes[i] for i in validation.y]
    routing = routing_metrics(model, validation.oof, truth)
    return {
        "n": len(truth),
        "accuracy": routing["accuracy"],
        "macro_f1": class_metrics(truth, predicted)["macro_f1"],
        "coverage": routing["coverage"],
        "precision_on_covered": routing["precision_on_covered"],
    }


def train_and_evaluate(
    data: Dataset,
    service_team: dict[str, str],
    config: TrainConfig,
    *,
    progress: Progress = lambda _msg: None,
    tick: Tick | None = None,
) -> TrainResult:
    """Hold back a stratified test split, fit on the rest and evaluate on it; then refit on all.

    With `config.test_size` 0 nothing is held back and the evaluation is skipped.
    """
    metrics: dict[str, Any] = {}
    holdout = Dataset()
    n_eval_train = 0
    if config.test_size > 0:
        train_idx, test_idx = stratified_split(data.labels, config.test_size, config.seed)
        train, holdout = data.subset(train_idx), data.subset(test_idx)
        n_eval_train = len(train)
        progress(f"evaluation: fitting on {len(train)} rows, {len(holdout)} held back")
        trial, _info, _validation = fit_model(
            train, service_team, config, progress=progress, tick=tick
        )
        progress(f"evaluating on {len(holdout)} held-back rows")
        metrics = evaluate(trial, holdout.texts, holdout.labels, holdout.extras)
        progress(f"refitting on all {len(data)} rows for the registered model")
    model, info, validation = fit_model(data, service_team, config, progress=progress, tick=tick)
    info["n_test"] = len(holdout)
    info["n_eval_train"] = n_eval_train
    info["oof"] = oof_summary(validation, model.classes, model)
    return TrainResult(model=model, metrics=metrics, info=info, train=data, holdout=holdout)
