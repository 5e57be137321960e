"""Threshold selection at a target precision, and the stratified split."""

from __future__ import annotations

import numpy as np

from classifier.thresholds import choose_threshold, select_thresholds
from classifier.training import stratified_split


def test_lowest_threshold_that_keeps_precision() -> None:
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 1, 1, 0, 1, 0], dtype=bool)
    assert choose_threshold(conf, correct, 1.0) == 0.8
    assert choose_threshold(conf, correct, 0.8) == 0.6  # 5 of 6 correct above 0.6
    assert choose_threshold(conf, correct, 0.5) == 0.5


def test_no_threshold_when_target_cannot_be_met() -> None:
    conf = np.array([0.9, 0.8])
    assert choose_threshold(conf, np.array([False, True]), 0.95) is None
    assert choose_threshold(np.array([]), np.array([], dtype=bool), 0.95) is None


def test_ties_are_accepted_or_refused_together() -> None:
    conf = np.array([0.9, 0.9, 0.9, 0.5])
    correct = np.array([True, True, False, True])
    # Cutting inside the tie at 0.9 would claim 100%; the whole tie is only 2/3.
    assert choose_threshold(conf, correct, 0.9) is None


def test_weights_make_out_of_scope_rows_count_more() -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, False, True])
    assert choose_threshold(conf, correct, 0.75) == 0.6
    heavy = np.array([1.0, 1.0, 5.0, 1.0])
    assert choose_threshold(conf, correct, 0.75, heavy) == 0.8


def test_team_threshold_is_chosen_on_rows_below_the_service_threshold() -> None:
    # Two teams: classes 0,1 -> team 0; class 2 -> team 1.
    team_sum = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    proba = np.array(
        [
            [0.95, 0.03, 0.02],  # sure, right
            [0.50, 0.45, 0.05],  # unsure service, right team
            [0.45, 0.50, 0.05],  # unsure service, right team
            [0.40, 0.30, 0.30],  # unsure; team 0 at 0.7 but truly class 2
        ]
    )
    y = np.array([0, 0, 0, 2])
    found = select_thresholds(proba, y, team_sum.argmax(axis=1), team_sum, 0.9)
    assert found.service == 0.95
    assert found.team == 0.95  # the 0.7 row is wrong, so the team threshold stays above it


def test_out_of_scope_rows_are_never_correct() -> None:
    team_sum = np.eye(2)
    proba = np.array([[0.9, 0.1], [0.8, 0.2]])
    found = select_thresholds(proba, np.array([0, -1]), np.array([0, 1]), team_sum, 0.9)
    assert found.service == 0.9


def test_stratified_split_keeps_every_label_in_train() -> None:
    labels = ["a"] * 10 + ["b"] * 2 + ["c"] * 3
    train, test = stratified_split(labels, 0.2, seed=1)
    assert sorted(train + test) == list(range(len(labels)))
    assert {labels[i] for i in train} == {"a", "b", "c"}
    assert sum(labels[i] == "a" for i in test) == 2
    assert sum(labels[i] == "b" for i in test) == 1
    assert stratified_split(labels, 0.2, seed=1) == (train, test)


def test_confidence_bound_needs_more_evidence() -> None:
    conf = np.linspace(1.0, 0.01, 100)
    correct = np.ones(100, dtype=bool)
    assert choose_threshold(conf[:10], correct[:10], 0.95) == conf[9]
    assert choose_threshold(conf[:10], correct[:10], 0.95, z=1.645) is None  # 10/10 is not proof
    assert choose_threshold(conf, correct, 0.95, z=1.645) == conf[-1]  # 100/100 is
