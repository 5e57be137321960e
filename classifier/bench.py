"""`okno bench classifier`: our pipeline beside the plain reference on the public sets.

Run as `python -m classifier.bench` too. Measures accuracy, macro-F1, routing coverage at the
precision target, training time, one-text latency, batch throughput and model size.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline, make_union
from sklearn.svm import LinearSVC

from classifier.bench_data import DEFAULT_ROOT, LOADERS, BenchSet
from classifier.bench_margin import paired_bootstrap, paired_scores
from classifier.bench_report import write_report
from classifier.linear import Progress, cv_folds
from classifier.metrics import class_metrics, evaluate
from classifier.model import OknoModel
from classifier.operations import library_versions
from classifier.training import TrainConfig, Validation, fit_model

TARGET_PRECISION = 0.95
LATENCY_SAMPLES = 1000
LATENCY_PASSES = 3
BATCH_SIZE = 2000
# Assumed share of out-of-scope requests in live traffic for clinc150: its official test mix
# (1,000 of 5,500). Only weighs the 200 out-of-scope training examples when thresholds are set.
CLINC_OOS_SHARE = 1000 / 5500


def oracle_coverage(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """Largest share of the test rows routable with precision >= target (threshold set on test)."""
    order = np.argsort(-confidence, kind="stable")
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    good = np.nonzero(precision >= target)[0]
    return round(float((good[-1] + 1) / len(order)), 4) if len(good) else 0.0


def latency_ms(
    predict_one: Callable[[str], Any], texts: Sequence[str], passes: int = LATENCY_PASSES
) -> dict[str, float]:
    """p50 and p99 of one call per text; the median over `passes` passes, and the worst pass.

    This VM shares its cores: within one pass of 1,000 calls the p99 is the tenth slowest call,
    and one preemption by a neighbour moves it by milliseconds. The median pass is what the
    code costs; the worst pass is shown beside it.
    """
    for text in texts[:20]:
        predict_one(text)
    p50s, p99s = [], []
    for _ in range(passes):
        times = []
        for text in texts:
            started = time.perf_counter()
            predict_one(text)
            times.append(time.perf_counter() - started)
        ms = np.array(times) * 1000
        p50s.append(float(np.percentile(ms, 50)))
        p99s.append(float(np.percentile(ms, 99)))
    return {
        "p50": round(float(np.median(p50s)), 3),
        "p99": round(float(np.median(p99s)), 3),
        "p99_worst_pass": round(max(p99s), 3),
    }


def throughput(predict_batch: Callable[[list[str]], Any], texts: Sequence[str]) -> float:
    batch = list(texts[:BATCH_SIZE])
    started = time.perf_counter()
    predict_batch(batch)
    return round(len(batch) / (time.perf_counter() - started), 1)


def file_mb(obj: Any, compress: int = 3) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.joblib"
        joblib.dump(obj, path, compress=compress)
        return round(path.stat().st_size / 1e6, 2)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, round(time.perf_counter() - started, 2)


def _mixed_oracle(
    conf_in: np.ndarray, correct: np.ndarray, conf_oos: np.ndarray
) -> dict[str, float]:
    """Best in-scope coverage at >= target precision when routed out-of-scope rows are errors."""
    conf = np.r_[conf_in, conf_oos]
    ok = np.r_[correct, np.zeros(len(conf_oos), dtype=bool)]
    order = np.argsort(-conf, kind="stable")
    precision = np.cumsum(ok[order]) / np.arange(1, len(order) + 1)
    good = np.nonzero(precision >= TARGET_PRECISION)[0]
    t = float(conf[order][good[-1]]) if len(good) else np.inf
    return {
        "oracle_mixed_coverage": round(float((conf_in >= t).mean()), 4),
        "oracle_mixed_oos_to_triage": round(float((conf_oos < t).mean()), 4),
    }


def _oos(model: OknoModel, bench: BenchSet, test_proba: np.ndarray) -> dict[str, Any]:
    """Where out-of-scope requests end up, and the precision of everything routed."""
    oos_proba = model.proba(bench.oos_test)
    decision, _top, _team = model.decide(oos_proba)
    in_decision, top, _ = model.decide(test_proba)
    correct = np.array([model.classes[i] for i in top]) == np.array(bench.test.labels)
    routed = int((in_decision == 2).sum() + (decision == 2).sum())
    return {
        "oos_n": len(bench.oos_test),
        "oos_not_routed_to_service": round(float((decision != 2).mean()), 4),
        "oos_to_central_triage": round(float((decision == 0).mean()), 4),
        "precision_on_routed_incl_oos": round(
            float(correct[in_decision == 2].sum() / max(routed, 1)), 4
        ),
        **_mixed_oracle(test_proba.max(axis=1), correct, oos_proba.max(axis=1)),
    }


def _threshold_variant(
    model: OknoModel, validation: Validation, bench: BenchSet, share: float | None
) -> dict[str, Any]:
    """Routing numbers had the thresholds been chosen with another out-of-scope weighting (and
    no floor on the out-of-scope share sent to triage): what precision alone would do."""
    original = model.thresholds
    model.thresholds = validation.thresholds(
        model.classes, bench.service_team, TARGET_PRECISION, share, TrainConfig().confidence_z
    )
    try:
        proba = model.proba(bench.test.texts)
        metrics = evaluate(model, bench.test.texts, bench.test.labels)
        return {
            "negative_share": share,
            "thresholds": model.thresholds.as_dict(),
            "coverage": metrics["coverage"],
            "precision_on_covered": metrics["precision_on_covered"],
            **_oos(model, bench, proba),
        }
    finally:
        model.thresholds = original


@dataclass
class Predicted:
    """A pipeline's predicted labels: on the test rows, and out of fold on the training rows."""

    test: list[str]
    oof: list[str]


Folds = list[tuple[np.ndarray, np.ndarray]]


def bench_ours(bench: BenchSet, progress: Progress) -> tuple[dict[str, Any], Predicted, Folds]:
    """Our pipeline's numbers, its predictions and the folds its out-of-fold scores came from."""
    config = TrainConfig(target_precision=TARGET_PRECISION, test_size=0.0,
                         negative_share=bench.negative_share)  # fmt: skip
    (model, info, validation), seconds = _timed(
        lambda: fit_model(
            bench.train, bench.service_team, config, negatives=bench.negatives, progress=progress
        )  # fmt: skip
    )
    model.version = f"bench-{bench.name}"
    model.warm()
    texts, labels = bench.test.texts, bench.test.labels
    progress(f"{bench.name}: evaluating our model on {len(texts)} test rows")
    metrics = evaluate(model, texts, labels)
    _rows, proba, encoded = model.scored(texts)
    correct = np.array([model.classes[i] for i in proba.argmax(axis=1)]) == np.array(labels)
    result: dict[str, Any] = {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "coverage": metrics["coverage"],
        "precision_on_covered": metrics["precision_on_covered"],
        "team_triage_share": metrics["team_triage_share"],
        "oracle_coverage_at_target": oracle_coverage(proba.max(axis=1), correct, TARGET_PRECISION),
        "thresholds": model.thresholds.as_dict(),
        "oof_accuracy": round(float((validation.oof.argmax(axis=1) == validation.y).mean()), 4),
        "training_seconds": seconds,
        "latency_ms": latency_ms(model.predict, texts[:LATENCY_SAMPLES]),
        "batch_texts_per_s": throughput(model.predict_many, texts),
        "model_file_mb": file_mb(model),
        "n_features": info["n_features"],
        "base_models": info["base_models"],
        "blend_weights": info["blend_weights"],
        "encoder": info["encoder"],
        # The encoder gate as chosen out of fold, and the share of test rows that were encoded.
        "encoder_gate": info.get("encoder_gate"),
        # Team smoothing and logit adjustment as chosen out of fold (classifier/adjust.py).
        "class_adjustment": info.get("class_adjustment"),
        "encoded_test_share": round(float(encoded.mean()), 4) if info["encoder"] else 0.0,
        # The shared encoder graph is not inside the model file, but it is on disk beside it.
        "encoder_graph_mb": (
            round(model.features.encoder().graph_bytes / 1e6, 2) if info["encoder"] else 0.0
        ),
    }
    if bench.oos_test:
        result.update(_oos(model, bench, proba))
        result["unweighted_negatives"] = _threshold_variant(model, validation, bench, None)
    predicted = Predicted(
        test=[model.classes[i] for i in proba.argmax(axis=1)],
        oof=[model.classes[i] for i in validation.oof.argmax(axis=1)],
    )
    return result, predicted, cv_folds(validation.y, config.model)


# The plain reference of issue 19: "TF-IDF (word 1-2 + char_wb 2-5, min_df 2) + LinearSVC".
# The library-default min_df 1 variant is measured beside it (accuracy and macro-F1 only).
REFERENCE_MIN_DF = 2


def reference_pipeline(min_df: int = REFERENCE_MIN_DF) -> Pipeline:
    """The plain baseline: TF-IDF word 1-2 + char_wb 2-5 (min_df as given), LinearSVC."""
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), min_df=min_df),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=min_df),
    )
    return Pipeline([("features", features), ("svc", LinearSVC())])


def _reference_scores(pipe: Pipeline, bench: BenchSet) -> tuple[np.ndarray, dict[str, float]]:
    labels = bench.test.labels
    scores = pipe.decision_function(bench.test.texts)
    predicted = pipe.classes_[scores.argmax(axis=1)]
    return scores, {
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        # The same macro-F1 as ours (classifier.metrics, the CLI's `evaluate`): the mean over
        # the classes of the test set. sklearn's f1_score would also average in, as 0, a
        # class predicted but absent from the test set (ru_med_top3 has one such class).
        "macro_f1": class_metrics(labels, [str(p) for p in predicted])["macro_f1"],
    }


def bench_reference_min_df1(bench: BenchSet, progress: Progress) -> dict[str, Any]:
    """The same pipeline with the library's default min_df 1: accuracy and macro-F1."""
    progress(f"{bench.name}: fitting the min_df 1 reference on {len(bench.train)} rows")
    pipe = reference_pipeline(min_df=1)
    _, seconds = _timed(lambda: pipe.fit(bench.train.texts, bench.train.labels))
    return {**_reference_scores(pipe, bench)[1], "training_seconds": seconds}


def reference_oof(bench: BenchSet, folds: Folds, progress: Progress) -> list[str]:
    """The reference's out-of-fold predictions on the training rows, over the given folds."""
    texts, labels = np.array(bench.train.texts, dtype=object), np.array(bench.train.labels)
    predicted = np.empty(len(labels), dtype=object)
    for n, (fit_rows, held) in enumerate(folds, 1):
        progress(f"{bench.name}: the reference out of fold, fold {n} of {len(folds)}")
        pipe = reference_pipeline().fit(list(texts[fit_rows]), labels[fit_rows])
        predicted[held] = pipe.predict(list(texts[held]))
    return [str(p) for p in predicted]


def bench_reference(bench: BenchSet, progress: Progress) -> tuple[dict[str, Any], list[str]]:
    """The reference's numbers and its test predictions."""
    progress(f"{bench.name}: fitting the reference pipeline on {len(bench.train)} rows")
    pipe = reference_pipeline()
    _, seconds = _timed(lambda: pipe.fit(bench.train.texts, bench.train.labels))
    texts, labels = bench.test.texts, bench.test.labels
    scores, quality = _reference_scores(pipe, bench)
    predicted = pipe.classes_[scores.argmax(axis=1)]
    correct = predicted == np.array(labels)
    result = {
        "min_df": REFERENCE_MIN_DF,
        **quality,
        # No probabilities: the raw SVM margin ranks the rows; the threshold is set on test.
        "oracle_coverage_at_target": oracle_coverage(scores.max(axis=1), correct, TARGET_PRECISION),
        "training_seconds": seconds,
        "latency_ms": latency_ms(lambda t: pipe.predict([t]), texts[:LATENCY_SAMPLES]),
        "batch_texts_per_s": throughput(pipe.predict, texts),
        "model_file_mb": file_mb(pipe),
    }
    return result, [str(p) for p in predicted]


def margins(bench: BenchSet, ours: Predicted, reference: Predicted) -> dict[str, Any]:
    """How sure ours-minus-reference is: a paired bootstrap of the test rows, and both
    cross-validated on the same folds of the training rows (classifier.bench_margin)."""
    return {
        "test_bootstrap": paired_bootstrap(bench.test.labels, ours.test, reference.test),
        "out_of_fold": paired_scores(bench.train.labels, ours.oof, reference.oof),
    }


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "libraries": library_versions(),
    }


def run_benchmarks(
    root: Path,
    *,
    names: Sequence[str] = (),
    out: Path = Path("docs/benchmarks.md"),
    raw: Path | None = Path("bench/classifier.json"),
    progress: Progress = print,
) -> dict[str, Any]:
    """Run every (or the named) set, write the markdown report and the raw JSON."""
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
    }
    report["sets"] = {}
    for name in names or list(LOADERS):
        loader = LOADERS[name]
        bench = loader(root, CLINC_OOS_SHARE) if name == "clinc150" else loader(root)  # type: ignore[call-arg]
        progress(f"{name}: {len(bench.train)} train / {len(bench.test)} test rows")
        ours, ours_predicted, folds = bench_ours(bench, progress)
        reference, reference_test = bench_reference(bench, progress)
        reference_predicted = Predicted(reference_test, reference_oof(bench, folds, progress))
        report["sets"][name] = {
            "note": bench.note,
            "n_train": len(bench.train),
            "n_test": len(bench.test),
            "ours": ours,
            "reference": reference,
            "reference_min_df1": bench_reference_min_df1(bench, progress),
            "margin": margins(bench, ours_predicted, reference_predicted),
        }
        progress(f"{name}: done")
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if raw is not None:
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(report, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(write_report(report))
    return report


if __name__ == "__main__":
    import sys

    run_benchmarks(DEFAULT_ROOT, names=sys.argv[1:])
