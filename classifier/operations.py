"""What the `okno model` commands do, without the command line: train, evaluate, promote."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from typing import Any

from classifier.catalog import CatalogInfo
from classifier.dataset import Dataset, check_counts, check_labels
from classifier.encoder import Tick
from classifier.errors import DataError, RegistryError
from classifier.linear import Progress
from classifier.metrics import evaluate
from classifier.registry import LoadedModel, ModelRegistry
from classifier.training import TrainConfig, TrainResult, train_and_evaluate


def library_versions() -> dict[str, str]:
    names = ("scikit-learn", "numpy", "scipy", "joblib", "onnxruntime", "tokenizers", "okno")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def build_metadata(
    result: TrainResult,
    data: Dataset,
    config: TrainConfig,
    catalog: CatalogInfo | None,
    dropped: int,
) -> dict[str, Any]:
    """Everything a reader of the registry needs to trust or question a version."""
    info = result.info
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_data": {
            "description": data.description,
            "sha256": data.sha256,
            "rows": len(data),
            # The registered model learnt from every row; the evaluation model from rows_eval_train.
            "rows_train": info["n_train"],
            "rows_eval_train": info["n_eval_train"],
            "rows_test": info["n_test"],
            "rows_dropped_excluded_services": dropped,
            "catalog": catalog.source if catalog is not None else None,
            "extra_columns": result.model.extra_cols,
        },
        "sizes": {
            "n_classes": info["n_classes"],
            "n_features": info["n_features"],
            "feature_blocks": info["feature_sizes"],
        },
        "library_versions": library_versions(),
        "params": config.as_dict(),
        "blend_weights": info["blend_weights"],
        "base_models": info["base_models"],
        "sentence_encoder": info["encoder"],
        # The gate below which a request is encoded, chosen out of fold (None: every request).
        "encoder_gate": info.get("encoder_gate"),
        # Team smoothing and logit adjustment, chosen out of fold (None: not tried).
        "class_adjustment": info.get("class_adjustment"),
        "training_seconds": info["training_seconds"],
        "thresholds": result.model.thresholds.as_dict(),
        "service_team": result.model.service_team,
        # Of the evaluation model on the held-back rows (empty with --test-size 0).
        "metrics": result.metrics,
        # Of the registered model's out-of-fold predictions over all rows (thresholds' basis).
        "out_of_fold": info["oof"],
    }


@dataclass
class Trained:
    version: str
    result: TrainResult
    promoted: bool
    # Why a first model of a new registry was not made active (None: it was, or not first).
    not_activated: str | None = None


@dataclass(frozen=True)
class LiveCatalog:
    """The services the running app can route to (active in its database or catalogue)."""

    services: frozenset[str]
    source: str


def foreign_labels(labels: Iterable[str], live: LiveCatalog) -> list[str]:
    return sorted(set(labels) - live.services)


def _refusal(version: str, foreign: list[str], live: LiveCatalog) -> str:
    named = ", ".join(foreign[:10]) + (
        f" and {len(foreign) - 10} more" if len(foreign) > 10 else ""
    )
    return (
        f"refusing to promote {version}: {len(foreign)} of its labels are not active services of"
        f" the live catalogue ({live.source}): {named}"
    )


def _service_team(
    data: Dataset, catalog: CatalogInfo | None, teams: dict[str, str] | None = None
) -> tuple[Dataset, dict[str, str], int]:
    """Labels checked against the catalogue; without one (foreign labels) each label's team is
    the one `teams` gives it, or the label itself."""
    if catalog is None:
        check_counts(data.labels)
        if teams is not None and (lacking := sorted(set(data.labels) - set(teams))):
            raise DataError(f"no team given for the label(s) {', '.join(lacking[:10])}")
        return data, {label: (teams or {}).get(label, label) for label in set(data.labels)}, 0
    data, dropped = check_labels(data, catalog)
    return data, catalog.service_team, dropped


def train_version(
    data: Dataset,
    catalog: CatalogInfo | None,
    registry: ModelRegistry,
    config: TrainConfig,
    *,
    promote: bool = False,
    live: LiveCatalog | None = None,
    progress: Progress = lambda _msg: None,
    tick: Tick | None = None,
    teams: dict[str, str] | None = None,
) -> Trained:
    """Check the labels, evaluate on a held-back split, refit on all rows, register (promote).

    `catalog` None: the labels need not be services (data of another system, for evaluation
    only); such a model is never promoted, and `teams` (if given) names each label's team.
    The first model of a new registry becomes active when its labels are all services of the
    `live` catalogue.
    """
    if catalog is None and promote:
        raise RegistryError(
            "a model trained without the catalogue (--catalog none) cannot be promoted"
        )
    if teams is not None and catalog is not None:
        raise RegistryError("teams come from the catalogue; --team-col is for --catalog none")
    data, service_team, dropped = _service_team(data, catalog, teams)
    if promote and live is not None and (foreign := foreign_labels(data.labels, live)):
        raise RegistryError(_refusal("the new model", foreign, live))
    registry.path.mkdir(parents=True, exist_ok=True)
    if dropped:
        progress(f"left out {dropped} rows of services excluded from training")
    result = train_and_evaluate(data, service_team, config, progress=progress, tick=tick)
    metadata = build_metadata(result, data, config, catalog, dropped)
    progress("writing the model into the registry")
    holdout = result.holdout if len(result.holdout) else None
    version = registry.register(result.model, metadata, holdout)
    not_activated = None
    if not promote and registry.active_version() is None:
        not_activated = _first_model_blocker(result.model.classes, catalog, live)
        promote = not_activated is None
    if promote:
        registry.promote(version)
    return Trained(version=version, result=result, promoted=promote, not_activated=not_activated)


def _first_model_blocker(
    classes: list[str], catalog: CatalogInfo | None, live: LiveCatalog | None
) -> str | None:
    if catalog is None:
        return "trained without the catalogue (--catalog none)"
    foreign = foreign_labels(classes, live) if live is not None else []
    if foreign:
        return f"labels that are not live services: {', '.join(foreign[:10])}"
    return None


def evaluate_loaded(loaded: LoadedModel, data: Dataset) -> dict[str, Any]:
    metrics = evaluate(loaded.model, data.texts, data.labels, data.extras)
    return {"version": loaded.version, **metrics}


def is_worse(challenger: dict[str, Any], champion: dict[str, Any]) -> bool:
    """Macro-F1 decides; on a tie, accuracy."""
    key = ("macro_f1", "accuracy")
    return tuple(challenger[k] for k in key) < tuple(champion[k] for k in key)


@dataclass
class Comparison:
    challenger: dict[str, Any]
    champion: dict[str, Any] | None
    data_description: str


def compare_with_active(registry: ModelRegistry, version: str, data: Dataset | None) -> Comparison:
    """Evaluate version and the active model on the same data (default: version's held-back rows)."""
    stored = None
    if data is None:
        data = registry.holdout(version)
        meta = registry.metadata(version)
        refitted = meta.get("training_data", {}).get("rows_eval_train") is not None
        # The registered model learnt from its held-back rows too: its honest score on them is
        # the one measured before the refit (the champion is evaluated on them now).
        stored = (
            {"version": version, **meta["metrics"]} if refitted and meta.get("metrics") else None
        )
    if data is None or not len(data):
        raise RegistryError(f"version {version} has no held-back rows; pass --data to compare")
    challenger = stored or evaluate_loaded(registry.load(version), data)
    active = registry.active_version()
    champion = evaluate_loaded(registry.load(active), data) if active else None
    return Comparison(challenger, champion, data.description)


def promote_checked(
    registry: ModelRegistry,
    version: str,
    data: Dataset | None = None,
    *,
    force: bool = False,
    live: LiveCatalog | None = None,
) -> Comparison | None:
    """Promote version unless it is worse than the active one on the same data (or forced).

    A version whose labels are not all active services of the `live` catalogue is refused
    whatever `force` says: every request it routed would fail.
    """
    registry.version_dir(version)
    if live is not None:
        labels = registry.metadata(version).get("service_team") or {}
        foreign = foreign_labels(labels, live)
        if foreign:
            raise RegistryError(_refusal(version, foreign, live))
    active = registry.active_version()
    comparison = None
    if active and active != version and not force:
        comparison = compare_with_active(registry, version, data)
        champ = comparison.champion
        if champ is not None and is_worse(comparison.challenger, champ):
            ch = comparison.challenger
            raise RegistryError(
                f"refusing to promote {version}: macro-F1 {ch['macro_f1']} / accuracy "
                f"{ch['accuracy']} is worse than active {active} ({champ['macro_f1']} / "
                f"{champ['accuracy']}) on {ch['n']} rows; use --force to promote anyway"
            )
    registry.promote(version)
    return comparison
