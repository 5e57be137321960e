"""The cross-fitted linear scorer: how its settings follow the training data."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from classifier.linear import ModelSpec, crossfit


def test_class_weights_are_balanced_only_where_classes_have_many_rows() -> None:
    spec = ModelSpec()
    assert spec.class_weight(38_269, 8) == "balanced"  # it_service_tickets: ~4,800 a class
    assert spec.class_weight(5_537, 105) is None  # ru_med_top3: ~53 a class, noisy
    assert ModelSpec(svc_class_weight=None).class_weight(38_269, 8) is None
    assert ModelSpec(svc_class_weight="balanced").class_weight(10, 5) == "balanced"


def test_crossfit_says_which_class_weight_it_used() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300, int), np.ones(100, int), np.full(100, 2)]
    X = sp.csr_matrix(rng.random((len(y), 6)) + np.eye(3)[y].repeat(2, axis=1))
    fitted = crossfit(X, y, 3, ModelSpec(svc_c=(1.0,), balanced_from=100, folds=3))
    assert "class_weight=balanced" in fitted.chosen["svc"]
    fitted = crossfit(X, y, 3, ModelSpec(svc_c=(1.0,), balanced_from=200, folds=3))
    assert "class_weight" not in fitted.chosen["svc"]
    assert (fitted.oof_proba.argmax(axis=1) == y).mean() > 0.9
