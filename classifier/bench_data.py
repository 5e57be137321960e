"""The public benchmark sets, read in place from the shared datasets folder (never copied).

Their labels are not catalogue services, so each label gets a pseudo-team for the team-level
routing: banking77 by the label's first word (card_*, top_up_*, transfer_*...), clinc150 by its
official domain, it_service_tickets one team per label (8 broad labels already), ru_med_top3 by
the letter of its ICD-10 code.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from classifier.dataset import Dataset

# Beside the repository: /work/shared/datasets for /work/main.
DEFAULT_ROOT = Path("../shared/datasets")


@dataclass
class BenchSet:
    name: str
    train: Dataset
    test: Dataset
    service_team: dict[str, str]
    # Out-of-scope requests: examples available for training (used only to choose thresholds)
    # and the test ones, which should all go to triage.
    negatives: list[str] = field(default_factory=list)
    oos_test: list[str] = field(default_factory=list)
    negative_share: float | None = None
    note: str = ""


def _csv(path: Path, text_col: str, label_col: str) -> Dataset:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return Dataset(
        texts=[r[text_col] for r in rows],
        labels=[r[label_col] for r in rows],
        extras=[{} for _ in rows],
        sources=[str(path)],
    )


def banking77(root: Path = DEFAULT_ROOT) -> BenchSet:
    train = _csv(root / "banking77" / "train.csv", "text", "category")
    test = _csv(root / "banking77" / "test.csv", "text", "category")
    teams = {lb: lb.split("_")[0] for lb in set(train.labels)}
    return BenchSet("banking77", train, test, teams, note="pseudo-team = first word of label")


def it_service_tickets(root: Path = DEFAULT_ROOT) -> BenchSet:
    base = root / "it_service_tickets"
    train = _csv(base / "train.csv", "Document", "Topic_group")
    test = _csv(base / "test.csv", "Document", "Topic_group")
    teams = {lb: lb for lb in set(train.labels)}
    return BenchSet("it_service_tickets", train, test, teams, note="one team per label")


def _pairs(data: dict[str, list[list[str]]], *keys: str) -> Dataset:
    rows = [pair for key in keys for pair in data[key]]
    return Dataset(
        texts=[t for t, _ in rows],
        labels=[lb for _, lb in rows],
        extras=[{} for _ in rows],
        sources=[f"data_full.json:{'+'.join(keys)}"],
    )


def clinc150(root: Path = DEFAULT_ROOT, negative_share: float | None = None) -> BenchSet:
    data = json.loads((root / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((root / "clinc150" / "domains.json").read_text(encoding="utf-8"))
    teams = {intent: domain for domain, intents in domains.items() for intent in intents}
    return BenchSet(
        "clinc150",
        train=_pairs(data, "train", "val"),
        test=_pairs(data, "test"),
        service_team=teams,
        negatives=[t for key in ("oos_train", "oos_val") for t, _ in data[key]],
        oos_test=[t for t, _ in data["oos_test"]],
        negative_share=negative_share,
        note="train = train+val; oos_train+oos_val only choose thresholds; pseudo-team = domain",
    )


def ru_med_top3(root: Path = DEFAULT_ROOT) -> BenchSet:
    base = root / "ru_med_top3"
    train = _csv(base / "train.csv", "text", "category")
    test = _csv(base / "test.csv", "text", "category")
    teams = {lb: lb[0] for lb in set(train.labels)}
    return BenchSet(
        "ru_med_top3", train, test, teams, note="Russian; pseudo-team = letter of the ICD-10 code"
    )


LOADERS = {
    "banking77": banking77,
    "clinc150": clinc150,
    "it_service_tickets": it_service_tickets,
    "ru_med_top3": ru_med_top3,
}
