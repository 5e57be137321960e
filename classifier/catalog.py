"""What the classifier needs from the service catalogue: service → team, and what not to learn."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from classifier.errors import DataError


@dataclass(frozen=True)
class CatalogInfo:
    service_team: dict[str, str]
    excluded: frozenset[str]
    source: str = ""

    def team_of(self, service: str) -> str:
        return self.service_team[service]


def load_catalog(path: Path) -> CatalogInfo:
    """Read services, their teams and the exclude_from_training flags from the catalogue YAML."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DataError(f"catalogue {path} does not exist") from None
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"catalogue {path} cannot be read: {exc}".splitlines()[0]) from exc
    services = data.get("services") or []
    if not isinstance(services, list) or not services:
        raise DataError(f"catalogue {path} lists no services")
    mapping = {str(s["code"]): str(s["team"]) for s in services if "code" in s and "team" in s}
    excluded = frozenset(str(s["code"]) for s in services if s.get("exclude_from_training"))
    return CatalogInfo(service_team=mapping, excluded=excluded, source=str(path))
