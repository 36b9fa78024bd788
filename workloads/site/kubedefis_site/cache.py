"""A Redis cache backend for which Redis being down is a cache miss, never an error."""

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# After a failure, skip Redis for a while instead of paying a connect timeout per call.
_BACKOFF_SECONDS = 5.0


class ForgivingRedisCache(RedisCache):
    _down_until = 0.0

    def _guard(self, operation: str, default: Any, call: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            return default
        try:
            return call(*args, **kwargs)
        except (RedisError, OSError) as exc:
            ForgivingRedisCache._down_until = time.monotonic() + _BACKOFF_SECONDS
            logger.warning(
                "redis unavailable, serving without cache", extra={"op": operation, "error": str(exc)}
            )
            return default

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._guard("get", default, super().get, key, default, version)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        return self._guard("get_many", {}, super().get_many, keys, version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._guard("set", None, super().set, key, value, timeout, version)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return self._guard("add", False, super().add, key, value, timeout, version)

    def delete(self, key: Any, version: Any = None) -> Any:
        return self._guard("delete", False, super().delete, key, version)

    def clear(self) -> Any:
        return self._guard("clear", False, super().clear)
