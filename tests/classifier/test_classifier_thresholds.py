"""Threshold selection at a target precision, and the stratified split."""

from __future__ import annotations

import numpy as np

from classifier.thresholds import choose_threshold, negative_floor, select_thresholds
from classifier.training import Validation, stratified_split


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


def test_a_floor_keeps_out_of_scope_requests_in_triage() -> None:
    negatives = np.linspace(0.99, 0.0, 100)  # 100 out-of-scope rows, evenly confident
    floor = negative_floor(negatives, 0.85)
    assert floor is not None and (negatives >= floor).sum() == 15  # at most 15 % routed
    sure = negative_floor(negatives, 0.85, z=1.645)
    assert sure is not None and (negatives >= sure).sum() < 15  # 100 rows prove less than 15 %
    assert negative_floor(np.array([]), 0.85) is None
    assert negative_floor(negatives, 0.0) is None  # no share required: no floor


def test_the_floor_raises_the_service_threshold_only_when_needed() -> None:
    team_sum = np.eye(2)
    # In scope: all right. Out of scope: four rows, the surest at 0.7 and 0.65.
    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.7, 0.65, 0.55, 0.52])
    proba = np.c_[conf, 1 - conf]
    y = np.array([0, 0, 0, 0, -1, -1, -1, -1])
    plain = select_thresholds(proba, y, np.array([0, 1]), team_sum, 0.5)
    floored = select_thresholds(proba, y, np.array([0, 1]), team_sum, 0.5, negative_to_triage=0.75)
    assert plain.service == 0.52  # precision 4/8 still meets 0.5
    assert floored.service is not None and 0.65 < floored.service <= 0.7
    assert ((conf[4:] >= floored.service).mean()) <= 0.25


def test_stored_thresholds_use_the_confidence_bound() -> None:
    # 20 validation rows, all right: the point estimate allows every row, the bound does not.
    oof = np.c_[np.linspace(0.99, 0.5, 20), 1 - np.linspace(0.99, 0.5, 20)]
    validation = Validation(oof=oof, negatives=np.zeros((0, 2)), y=np.zeros(20, dtype=int))
    point = validation.thresholds(["a", "b"], {"a": "t", "b": "u"}, 0.95, z=0.0)
    bound = validation.thresholds(["a", "b"], {"a": "t", "b": "u"}, 0.95, z=1.645)
    assert point.service == 0.5
    assert bound.service is None or bound.service > point.service
