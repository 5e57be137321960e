"""`okno model …` (train, evaluate, list, promote, rollback, export) and `okno bench classifier`."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from classifier.bench import run_benchmarks
from classifier.bench_data import DEFAULT_ROOT
from classifier.catalog import CatalogInfo, load_catalog
from classifier.dataset import (
    MIN_EXAMPLES_PER_LABEL,
    Dataset,
    add_examples,
    examples_from_db,
    read_csv_data,
    read_label_teams,
)
from classifier.encoder import TICK_EVERY as TICK_FIRST
from classifier.errors import ClassifierError
from classifier.export import write_examples
from classifier.features import FeatureSpec
from classifier.metrics import confusion_highlights, headline
from classifier.operations import (
    LiveCatalog,
    Trained,
    evaluate_loaded,
    promote_checked,
    train_version,
)
from classifier.registry import ModelRegistry
from classifier.training import TrainConfig
from models.db import Service, make_engine, session_scope
from models.settings import Settings, SettingsError, load_settings


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Our named failures become a one-line error and exit code 1."""
    try:
        yield
    except (ClassifierError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from exc


def _settings() -> Settings:
    with _clear_errors():
        return load_settings()


def _registry(path: Path | None, *, create_default: bool = False) -> ModelRegistry:
    """The --registry directory, or the configured one; an explicit one must already exist."""
    default = path is None
    registry = ModelRegistry(_settings().registry_dir if path is None else path)
    if not registry.exists():
        if not (default and create_default):
            raise click.ClickException(f"model registry {registry.path} does not exist")
        registry.path.mkdir(parents=True)
    return registry


def _catalog(path: Path | None) -> CatalogInfo:
    with _clear_errors():
        return load_catalog(path if path is not None else _settings().catalog_file)


def _progress() -> Callable[[str], None]:
    started = time.perf_counter()

    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:7.1f}s] {message}", err=True)

    return say


def data_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--data (repeatable file or directory) and the column flags."""
    options = [
        click.option(
            "--data", "data", multiple=True, type=click.Path(path_type=Path),
            help="CSV file or directory of *.csv (repeatable).",
        ),
        click.option("--text-col", default="text", show_default=True),
        click.option("--label-col", default="service", show_default=True),
        click.option("--extra-col", "extra_cols", multiple=True, help="Categorical column (repeatable)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


registry_option = click.option(
    "--registry", type=click.Path(path_type=Path), help="Registry directory [settings]."
)


def _read(
    data: tuple[Path, ...], text_col: str, label_col: str, extra_cols: tuple[str, ...], **kw: Any
) -> Dataset:
    with _clear_errors():
        return read_csv_data(
            list(data), text_col=text_col, label_col=label_col, extra_cols=extra_cols, **kw
        )


@click.group("model")
def model() -> None:
    """The classifier: train, evaluate, list, promote, roll back, export examples."""


def _test_size(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if value != 0 and not 0.05 <= value <= 0.5:
        raise click.BadParameter("give 0 (no evaluation) or a share from 0.05 to 0.5")
    return value


def _encoder_gate(_ctx: click.Context, _param: click.Parameter, value: str) -> bool | float:
    """auto -> True (chosen out of fold), off -> False, a probability -> that gate."""
    lowered = value.strip().lower()
    if lowered in ("auto", "off"):
        return lowered == "auto"
    try:
        gate = float(lowered)
    except ValueError:
        gate = -1.0
    if not 0.0 <= gate <= 1.0:
        raise click.BadParameter(f"give auto, off or a probability from 0 to 1, not {value!r}")
    return gate


@model.command("train")
@data_options
@click.option("--from-db", is_flag=True, help="Add labels of resolved and reassigned tickets.")
@registry_option
@click.option(
    "--catalog",
    help="Catalogue YAML [settings]; 'none': the labels need not be services (evaluation only).",
)
@click.option(
    "--target-precision", default=0.95, show_default=True, type=click.FloatRange(0.5, 1.0)
)
@click.option(
    "--test-size", default=0.2, show_default=True, type=float, callback=_test_size,
    help="Share held back for the evaluation (0: none); the registered model learns from all rows.",
)  # fmt: skip
@click.option("--seed", default=42, show_default=True)
@click.option(
    "--encoder",
    type=click.Choice(["auto", "on", "off", "static"]),
    default="auto",
    show_default=True,
    help="Sentence-encoder embedding beside the n-grams (auto: when the data is not too large; "
    "static: the encoder's word-piece table, whole text, ~0.1 ms a request).",
)
@click.option(
    "--encoder-gate",
    default="auto",
    show_default=True,
    callback=_encoder_gate,
    help="With the encoder: requests the n-grams alone are this sure of skip it (auto: the "
    "lowest gate that costs no accuracy or macro-F1 out of fold; off: every request encoded; "
    "or a probability from 0 to 1).",
)
@click.option(
    "--team-col",
    default=None,
    help="With --catalog none: the column naming each label's team (team-level routing and "
    "team smoothing); default: each label is its own team.",
)
@click.option(
    "--class-adjustment",
    type=click.Choice(["auto", "off"]),
    default="auto",
    show_default=True,
    help="Team smoothing and a rare-service prior on the final scores (auto: where they raise "
    "macro-F1 out of fold at no cost in accuracy; off: never).",
)
@click.option("--promote", is_flag=True, help="Make the new version the active one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def train(
    data: tuple[Path, ...],
    text_col: str,
    label_col: str,
    extra_cols: tuple[str, ...],
    from_db: bool,
    registry: Path | None,
    catalog: str | None,
    target_precision: float,
    test_size: float,
    seed: int,
    encoder: str,
    encoder_gate: bool | float,
    team_col: str | None,
    class_adjustment: str,
    promote: bool,
    as_json: bool,
) -> None:
    """Train on CSV data (and tickets), evaluate on a held-back split, refit on all rows and
    register the version (the first of a registry becomes active)."""
    if not data and not from_db:
        raise click.UsageError("give --data CSV (repeatable) and/or --from-db")
    foreign = catalog is not None and catalog.lower() == "none"
    if foreign and (promote or from_db):
        raise click.UsageError(
            "--catalog none trains on foreign labels: no --promote, no --from-db"
        )
    if team_col is not None and not (foreign and data):
        raise click.UsageError(
            "--team-col names teams of foreign labels: give --catalog none and --data"
        )
    info = None if foreign else _catalog(Path(catalog) if catalog else None)
    reg = ModelRegistry(_settings().registry_dir if registry is None else registry)
    say = _progress()
    dataset = _read(data, text_col, label_col, extra_cols) if data else Dataset()
    if from_db and info is not None:
        dataset = _add_db_examples(dataset, info, extra_cols, say)
    live = _live_catalog() if not foreign and (promote or reg.active_version() is None) else None
    config = TrainConfig(
        target_precision=target_precision, test_size=test_size, seed=seed,
        features=FeatureSpec(encoder=encoder), encoder_gate=encoder_gate,
        class_adjustment=class_adjustment == "auto",
    )  # fmt: skip
    with _clear_errors(), _feature_bar() as tick:
        teams = (
            read_label_teams(list(data), label_col=label_col, team_col=team_col)
            if team_col is not None
            else None
        )
        trained = train_version(
            dataset, info, reg, config, promote=promote, live=live, progress=say, tick=tick,
            teams=teams,
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(_trained_json(trained), ensure_ascii=False))
    else:
        _print_trained(trained)


def _live_catalog() -> LiveCatalog:
    """Active services of the running app: its database's, or (no database yet) the configured
    catalogue file's."""
    settings = _settings()
    url = settings.effective_database_url
    codes: set[str] = set()
    if not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).is_file():
        engine = make_engine(url)
        try:
            with session_scope(engine) as session:
                codes = set(session.scalars(select(Service.code).where(Service.active.is_(True))))
        except SQLAlchemyError:
            codes = set()  # not migrated yet: nothing runs on it
        finally:
            engine.dispose()
    if codes:
        return LiveCatalog(frozenset(codes), "active services in the database")
    file = _catalog(None)
    return LiveCatalog(frozenset(file.service_team), f"catalogue {file.source}")


@contextmanager
def _feature_bar(every: float = 10.0) -> Iterator[Callable[[int, int], None]]:
    """A progress bar with an estimate for the slow part of building features (the encoder):
    redrawn in place on a terminal, a line every `every` seconds in a log."""
    tty = sys.stderr.isatty()
    state = {"started": 0.0, "shown": 0.0}

    def tick(done: int, total: int) -> None:
        now = time.perf_counter()
        if done <= TICK_FIRST or not state["started"]:
            state["started"], state["shown"] = now, 0.0
        if done < total and now - state["shown"] < (0.2 if tty else every):
            return
        state["shown"] = now
        spent = now - state["started"]
        left = spent / done * (total - done) if done else 0.0
        filled = int(30 * done / total)
        line = (
            f"  sentence embeddings [{'#' * filled}{'-' * (30 - filled)}] {done}/{total}"
            f" ({100 * done // total}%), {'done in' if done >= total else 'about'}"
            f" {spent if done >= total else left:.0f} s{' left' if done < total else ''}"
        )
        end = "\n" if done >= total or not tty else ""
        click.echo(("\r" if tty else "") + line, err=True, nl=False)
        click.echo(end, err=True, nl=False)

    yield tick


def _trained_json(trained: Trained) -> dict[str, Any]:
    info = trained.result.info
    return {
        "version": trained.version,
        "promoted": trained.promoted,
        "not_activated": trained.not_activated,
        "rows": info["n_train"],
        "rows_eval_train": info["n_eval_train"],
        "rows_test": info["n_test"],
        "n_classes": info["n_classes"],
        "training_seconds": info["training_seconds"],
        "thresholds": trained.result.model.thresholds.as_dict(),
        "evaluation": trained.result.metrics or None,
        "out_of_fold": info["oof"],
        "encoder_gate": info.get("encoder_gate"),
        "class_adjustment": info.get("class_adjustment"),
    }


def _add_db_examples(
    dataset: Dataset, info: CatalogInfo, extra_cols: tuple[str, ...], say: Callable[[str], None]
) -> Dataset:
    say("reading labelled tickets from the database")
    rows = _db_examples(None, info.excluded)
    counts = Counter([*dataset.labels, *(r["service"] for r in rows)])
    rare = sorted(
        {str(r["service"]) for r in rows if counts[r["service"]] < MIN_EXAMPLES_PER_LABEL}
    )
    if rare:
        # A service that one ticket used is no reason to stop retraining: leave it for later.
        say(f"left out tickets of services with too few examples: {', '.join(rare)}")
        rows = [r for r in rows if r["service"] not in rare]
    return add_examples(dataset, rows, source="tickets", extra_cols=extra_cols)


def _db_examples(since: datetime | None, exclude: frozenset[str]) -> list[dict[str, str | None]]:
    """Labelled examples from the configured database; its failures become one-line errors."""
    url = _settings().effective_database_url
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return examples_from_db(session=session, since=since, exclude=exclude)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise click.ClickException(f"cannot read tickets from the database: {first}") from exc
    finally:
        engine.dispose()


def _print_trained(trained: Trained) -> None:
    info, metrics = trained.result.info, trained.result.metrics
    state = " (promoted)" if trained.promoted else ""
    click.echo(f"{trained.version}{state}")
    if metrics:
        click.echo(
            f"  evaluation: fitted on {info['n_eval_train']} rows, tested on {info['n_test']}"
            " held back:"
        )
        click.echo("    " + _headline_line(metrics))
    else:
        click.echo("  evaluation: skipped (--test-size 0)")
    oof = info["oof"]
    t = trained.result.model.thresholds
    click.echo(
        f"  registered: refitted on all {info['n_train']} rows, {info['n_classes']} services,"
        f" {info['training_seconds']:.1f}s; out-of-fold over all rows: accuracy"
        f" {oof['accuracy']:.3f}  macro-F1 {oof['macro_f1']:.3f}  coverage {oof['coverage']:.3f}"
        f" (threshold {_num(t.service)}, team {_num(t.team)})"
    )
    gate = info.get("encoder_gate")
    if gate is not None:
        click.echo(
            "  sentence encoder: "
            + (
                f"skipped where the n-grams are {gate['gate']} sure "
                f"({gate['oof_encoder_skipped']:.0%} of rows out of fold)"
                if gate["gate"] is not None
                else "on every request (the n-grams alone cost accuracy out of fold)"
            )
        )
    adjusted = info.get("class_adjustment")
    if adjusted is not None:
        chosen = adjusted["chosen"]
        click.echo(
            "  class adjustment: "
            + (
                f"team weight {chosen['team_weight']}, prior weight {chosen['prior_weight']} "
                f"(out-of-fold macro-F1 {adjusted['out_of_fold_before']['macro_f1']:.3f} -> "
                f"{adjusted['out_of_fold_after']['macro_f1']:.3f})"
                if chosen is not None
                else "none (nothing raised macro-F1 out of fold without costing accuracy)"
            )
        )
    if trained.not_activated:
        click.echo(f"  not made active: {trained.not_activated}")


def _headline_line(metrics: dict[str, Any]) -> str:
    h = headline(metrics)
    t = metrics.get("thresholds", {})
    prec = "n/a" if h["precision_on_covered"] is None else f"{h['precision_on_covered']:.3f}"
    return (
        f"accuracy {h['accuracy']:.3f}  macro-F1 {h['macro_f1']:.3f}  coverage {h['coverage']:.3f}"
        f" at precision {prec} (target {t.get('target_precision')}, threshold {_num(t.get('service'))},"
        f" team {_num(t.get('team'))})"
    )


def _num(value: float | None) -> str:
    return "never" if value is None else f"{value:.3f}"


@model.command("evaluate")
@click.option("--version", "version", help="Model version [active].")
@data_options
@registry_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_cmd(
    version: str | None,
    data: tuple[Path, ...],
    text_col: str,
    label_col: str,
    extra_cols: tuple[str, ...],
    registry: Path | None,
    as_json: bool,
) -> None:
    """Evaluate a version (default: the active one) on labelled CSV data."""
    if not data:
        raise click.UsageError("give --data CSV (repeatable)")
    reg = _registry(registry)
    with _clear_errors():
        version = version or reg.active_version()
        if version is None:
            raise click.ClickException("no active model; pass --version")
        loaded = reg.load(version)
        cols = extra_cols or tuple(loaded.model.extra_cols)
        dataset = _read(data, text_col, label_col, cols, require_extras=bool(extra_cols))
        metrics = evaluate_loaded(loaded, dataset)
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False))
    else:
        _print_report(metrics)


def _print_report(metrics: dict[str, Any]) -> None:
    click.echo(f"model {metrics['version']} on {metrics['n']} rows")
    click.echo("  " + _headline_line(metrics))
    click.echo(
        f"  not routed to a service: {metrics['team_triage_share']:.3f} to a team's triage,"
        f" {metrics['central_triage_share']:.3f} to central triage"
    )
    per_class = metrics["per_class"]
    width = max([32, *(len(name) for name in per_class)])
    count = max([5, *(len(str(m["support"])) for m in per_class.values())])
    click.echo(f"\n  {'service':{width}} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>{count}}")
    for name, m in sorted(per_class.items(), key=lambda kv: kv[1]["f1"]):
        click.echo(
            f"  {name:{width}} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f}"
            f" {m['support']:{count}d}"
        )
    pairs = confusion_highlights(metrics)
    if pairs:
        click.echo("\n  most frequent confusions (true → predicted):")
        for true, pred, count in pairs:
            click.echo(f"  {count:5d}  {true} → {pred}")


@model.command("list")
@registry_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_cmd(registry: Path | None, as_json: bool) -> None:
    """Registered versions, newest last; * marks the active one."""
    reg = _registry(registry)
    active = reg.active_version()
    rows = []
    for version in reg.versions():
        with _clear_errors():
            meta = reg.metadata(version)
        m = meta.get("metrics") or {}
        rows.append(
            {
                "version": version,
                "active": version == active,
                "created": meta.get("created", ""),
                "rows": meta.get("training_data", {}).get("rows", 0),
                **{k: m.get(k) for k in ("accuracy", "macro_f1", "coverage")},
                "precision_on_covered": m.get("precision_on_covered"),
            }
        )
    if as_json:
        click.echo(json.dumps({"registry": str(reg.path), "active": active, "versions": rows}))
        return
    if not rows:
        click.echo(f"no models in {reg.path}")
        return
    click.echo(
        f"  {'version':22} {'created':25} {'acc':>6} {'F1':>6} {'cover':>6} {'prec':>6} {'rows':>6}"
    )
    for row in rows:
        click.echo(
            f"{'*' if row['active'] else ' '} {row['version']:22} {row['created']:25}"
            f" {_cell(row['accuracy'])} {_cell(row['macro_f1'])} {_cell(row['coverage'])}"
            f" {_cell(row['precision_on_covered'])} {row['rows']:6d}"
        )


def _cell(value: float | None) -> str:
    """A 6-wide metric; n/a for a version without an evaluation (trained with --test-size 0)."""
    return "   n/a" if value is None else f"{value:6.3f}"


@model.command("promote")
@click.argument("version")
@registry_option
@click.option("--force", is_flag=True, help="Promote even if worse than the active model.")
@data_options
def promote_cmd(
    version: str,
    registry: Path | None,
    force: bool,
    data: tuple[Path, ...],
    text_col: str,
    label_col: str,
    extra_cols: tuple[str, ...],
) -> None:
    """Make VERSION active, unless it is worse than the active model on the same data."""
    reg = _registry(registry)
    dataset = _read(data, text_col, label_col, extra_cols, require_extras=False) if data else None
    with _clear_errors():
        comparison = promote_checked(reg, version, dataset, force=force, live=_live_catalog())
    if comparison is not None and comparison.champion is not None:
        ch, champ = comparison.challenger, comparison.champion
        click.echo(
            f"compared on {ch['n']} rows ({comparison.data_description}): macro-F1 "
            f"{ch['macro_f1']} vs {champ['macro_f1']} of {champ['version']}"
        )
    click.echo(f"active model is now {version}")


@model.command("rollback")
@registry_option
def rollback_cmd(registry: Path | None) -> None:
    """Re-activate the version that was active before the current one."""
    reg = _registry(registry)
    current = reg.active_version()
    with _clear_errors():
        version = reg.rollback()
    click.echo(f"active model is now {version} (was {current})")


@model.command("export")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]))
@click.option("--catalog", type=click.Path(path_type=Path), help="Catalogue YAML [settings].")
def export_cmd(out: Path, since: datetime | None, catalog: Path | None) -> None:
    """Training examples from resolved tickets, personal data masked, excluded services left out."""
    info = _catalog(catalog)
    if not out.parent.is_dir():
        raise click.ClickException(f"directory {out.parent} does not exist")
    rows = _db_examples(since, info.excluded)
    count = write_examples(rows, out)
    click.echo(f"exported {count} examples to {out}")


@click.command("classifier")
@click.option(
    "--datasets", "datasets_dir", type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_ROOT, show_default=True,
)  # fmt: skip
@click.option("--only", multiple=True, help="Run only these sets (repeatable).")
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("docs/benchmarks.md"), show_default=True
)
@click.option(
    "--raw",
    type=click.Path(path_type=Path),
    default=Path("bench/classifier.json"),
    show_default=True,
)
def bench_classifier(datasets_dir: Path, only: tuple[str, ...], out: Path, raw: Path) -> None:
    """Train and evaluate on the public benchmark sets beside the plain reference pipeline."""

    if not datasets_dir.is_dir():
        raise click.ClickException(f"datasets directory {datasets_dir} does not exist")
    with _clear_errors():
        run_benchmarks(datasets_dir, names=list(only), out=out, raw=raw, progress=_progress())
    click.echo(f"report written to {out}", file=sys.stdout)
