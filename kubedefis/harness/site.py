"""What a grader does with the garage site: create data through the API, find it on the public pages.

The site is reached however the défi exposes it (kubectl proxy, port-forward,
Ingress): `SiteClient` takes a function that performs one HTTP request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubedefis.harness.access import WRITES, Response, http

Request = Callable[..., Response]  # request(method, path, body=..., headers=...)

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class SiteError(AssertionError):
    """The site answered something other than what the grader expected."""


@dataclass
class SiteClient:
    request: Request

    def _json(self, method: str, path: str, payload: dict[str, Any] | None = None, expect: int = 200) -> Any:
        body = json.dumps(payload) if payload is not None else None
        response = self.request(method, path, body=body, headers=JSON)
        if response.status != expect:
            raise SiteError(f"{method} {path}: expected HTTP {expect}, found {response.status}: {response.text[:500]}")
        return response.json() if response.body else None

    def create_garage(self, name: str | None = None) -> dict[str, Any]:
        name = name or f"Garage kubedefis {uuid.uuid4().hex[:8]}"
        return self._json("POST", "/api/garages", {"name": name, "city": "Évry"}, expect=201)

    def create_car(self, garage_id: int, plate: str | None = None) -> dict[str, Any]:
        plate = plate or f"KD-{uuid.uuid4().hex[:6].upper()}"
        car = {"make": "Renault", "model": "Zoé", "plate": plate, "year": 2024, "garage_id": garage_id}
        return self._json("POST", "/api/cars", car, expect=201)

    def car(self, car_id: int) -> dict[str, Any]:
        return self._json("GET", f"/api/cars/{car_id}")

    def stats(self) -> dict[str, int]:
        return self._json("GET", "/api/stats")

    def public_page(self, path: str = "/") -> Response:
        return self.request("GET", path, headers={"Accept": "text/html"})


def items_of(data: Any) -> list[Any] | None:
    """The objects of an API list, whatever its shape: a JSON list, or a page object holding them
    (`results`, else its only list-valued field); None when it cannot be told."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("results"), list):
            return list(data["results"])
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return list(lists[0])
    return None


def shape_of(response: Response) -> str:
    """What an answer was, for a failure message: its status, type and the start of its body."""
    kind = response.headers.get("content-type", "no content type")
    return f"HTTP {response.status} {kind}: {response.text[:200]!r}"


def json_of(response: Response) -> Any:
    """The JSON of an answer, None when it is none."""
    try:
        return response.json()
    except ValueError:
        return None


def proxy_request(base_url: str, token: str | None = None) -> Request:
    """Requests to a site behind a URL prefix (kubectl proxy's service path, a port-forward).

    With a token, writes carry it (the site's API refuses anonymous writes), in `X-Api-Key`: kubectl
    proxy keeps `Authorization` for the API server and does not pass it on to the Service.
    """

    def request(method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> Response:
        sent = dict(headers or {})
        if token and method.upper() in WRITES:
            sent.setdefault("X-Api-Key", token)
        return http(method, base_url.rstrip("/") + path, body=body, headers=sent)

    return request
