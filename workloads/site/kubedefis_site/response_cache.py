"""Whole-response caching keyed by the data version, with an `X-Kubedefis-Cache: hit|miss` header.

Writes bump the version in their own transaction (garage.versioning), so a cached body is never
served after the data it shows has changed, in any pod, whether or not Redis is shared.
"""

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse

from garage.versioning import current_data_version

CACHE_HEADER = "X-Kubedefis-Cache"
TIMEOUT_SECONDS = 300


def _key(namespace: str, request: HttpRequest) -> str:
    digest = hashlib.blake2b(request.get_full_path().encode(), digest_size=12).hexdigest()
    # The site version and schema stage are part of the key: during a rolling update two versions share
    # a Redis cache, and each must get bodies in its own shape.
    code = f"{settings.SITE_VERSION}.{settings.KUBEDEFIS_SCHEMA_STAGE}"
    return f"kubedefis:{code}:{namespace}:v{current_data_version()}:{digest}"


def _from_cache(key: str) -> HttpResponse | None:
    cached = cache.get(key)
    if cached is None:
        return None
    content, content_type = cached
    response = HttpResponse(content, content_type=content_type)
    response[CACHE_HEADER] = "hit"
    return response


def _store(key: str, response: HttpResponse) -> HttpResponse:
    if response.status_code == 200 and not response.streaming and not response.cookies:
        cache.set(key, (response.content, response["Content-Type"]), TIMEOUT_SECONDS)
    response[CACHE_HEADER] = "miss"
    return response


def cached_json(request: HttpRequest, namespace: str, build: Callable[[], Any]) -> HttpResponse:
    """The JSON body of `build()`, from the cache when the data has not changed since."""
    key = _key(namespace, request)
    response = _from_cache(key)
    if response is None:
        body = json.dumps(build(), cls=DjangoJSONEncoder, separators=(",", ":"))
        response = _store(key, HttpResponse(body, content_type="application/json"))
    return response


def cached_page(namespace: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Caches a GET page for anonymous visitors; signed-in staff see per-user content, never cached."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method != "GET" or request.user.is_authenticated:
                response = view(request, *args, **kwargs)
                response[CACHE_HEADER] = "miss"
                return response
            key = _key(namespace, request)
            return _from_cache(key) or _store(key, view(request, *args, **kwargs))

        return wrapper

    return decorator
