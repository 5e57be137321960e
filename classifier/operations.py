"""What the `okno model` commands do, without the command line: train, evaluate, promote."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from typing import Any

from classifier.catalog import CatalogInfo
from classifier.dataset import Dataset, check_labels
from classifier.errors import RegistryError
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
    result: TrainResult, data: Dataset, config: TrainConfig, catalog: CatalogInfo, dropped: int
) -> dict[str, Any]:
    """Everything a reader of the registry needs to trust or question a version."""
    info = result.info
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_data": {
            "description": data.description,
            "sha256": data.sha256,
            "rows": len(data),
            "rows_train": info["n_train"],
            "rows_test": info["n_test"],
            "rows_dropped_excluded_services": dropped,
            "catalog": catalog.source,
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
        "training_seconds": info["training_seconds"],
        "thresholds": result.model.thresholds.as_dict(),
        "service_team": result.model.service_team,
        "metrics": result.metrics,
    }


@dataclass
class Trained:
    version: str
    result: TrainResult
    promoted: bool


def train_version(
    data: Dataset,
    catalog: CatalogInfo,
    registry: ModelRegistry,
    config: TrainConfig,
    *,
    promote: bool = False,
    progress: Progress = lambda _msg: None,
) -> Trained:
    """Check the labels, train, evaluate on the held-back split, register (and promote)."""
    registry.require()
    data, dropped = check_labels(data, catalog)
    if dropped:
        progress(f"left out {dropped} rows of services excluded from training")
    result = train_and_evaluate(data, catalog.service_team, config, progress=progress)
    metadata = build_metadata(result, data, config, catalog, dropped)
    progress("writing the model into the registry")
    version = registry.register(result.model, metadata, result.holdout)
    if promote:
        registry.promote(version)
    return Trained(version=version, result=result, promoted=promote)


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
    data = data if data is not None else registry.holdout(version)
    if data is None or not len(data):
        raise RegistryError(f"version {version} has no held-back rows; pass --data to compare")
    challenger = evaluate_loaded(registry.load(version), data)
    active = registry.active_version()
    champion = evaluate_loaded(registry.load(active), data) if active else None
    return Comparison(challenger, champion, data.description)


def promote_checked(
    registry: ModelRegistry, version: str, data: Dataset | None = None, *, force: bool = False
) -> Comparison | None:
    """Promote version unless it is worse than the active one on the same data (or forced)."""
    registry.version_dir(version)
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
