"""The site contract's defaults are what our site serves, and the load scripts follow the contract.

Our site (workloads/site) is a Django project with its own dependencies: its URL confs are read as
text here, not imported. The locustfile runs in a fresh interpreter (Locust's gevent patching).
"""

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kubedefis.harness import site as site_mod
from kubedefis.harness import target
from kubedefis.harness.access import Response

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "workloads" / "site"
LOADTESTS = ROOT / "loadtests"


def api_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of our API's collection endpoints: `api/` + each router's prefix, `@router.get("")`."""
    assert 'path("api/", api.urls)' in (SITE / "kubedefis_site" / "urls" / "api.py").read_text()
    mounted = re.findall(r'api\.add_router\("(/\w+)", (\w+)\.router\)', (SITE / "api" / "api.py").read_text())
    assert mounted, "no router mounted in workloads/site/api/api.py"
    routes = set()
    for prefix, module in mounted:
        text = (SITE / "api" / "routers" / f"{module}.py").read_text()
        routes |= {(m.upper(), "/api" + prefix) for m in re.findall(r'@router\.(get|post|put|patch|delete)\(""', text)}
    return routes


def public_pages() -> set[str]:
    text = (SITE / "public" / "urls.py").read_text()
    return {"/" + p for p in re.findall(r'path\("([\w/-]*)", views\.\w+', text)}


def test_the_defaults_are_what_our_site_serves() -> None:
    routes, pages = api_routes(), public_pages()
    site = target.Target().site
    assert ("GET", site.api_list) in routes and ("GET", site.api_probe) in routes, sorted(routes)
    assert (site.write_method, site.write_path) in routes, sorted(routes)
    assert site.public_page in pages and "/" in pages, sorted(pages)
    # the write's body is what our API takes there (GarageIn: name, city)
    schema = (SITE / "api" / "schemas.py").read_text()
    fields = re.search(r"class GarageIn\(Input\):\n((?:    \w+: .+\n)+)", schema)
    assert fields is not None
    taken = set(re.findall(r"^    (\w+):", fields.group(1), re.MULTILINE))
    required = set(re.findall(r"^    (\w+): [^=\n]+$", fields.group(1), re.MULTILINE))
    assert required <= set(json.loads(site.write_body()[0])) <= taken, (required, taken)


def test_the_load_scripts_default_to_the_contract_s_defaults() -> None:
    site = target.Target().site
    attack = (LOADTESTS / "attack.py").read_text()
    locust = (LOADTESTS / "site_locustfile.py").read_text()
    for key, env in target.SITE_ENV.items():
        if key in target.SITE_PATHS:
            default = getattr(site, key)
            assert f'os.environ.get("{env}") or "{default}"' in locust, (key, default)
            assert f'os.environ.get("{env}") or "{default}"' in attack, (key, default)
    assert f'os.environ.get("KUBEDEFIS_API_WRITE") or "{site.api_write}"' in attack


def test_the_attack_aims_at_the_paths_the_harness_gives() -> None:
    from kubedefis.harness import load

    contract = target.Target(deployed=True, api_list="/v/items", public_page="/p/", api_probe="/ping").site
    args = load.attack_paths(contract)
    attack = subprocess.run(
        [sys.executable, str(LOADTESTS / "attack.py"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in args[::2]:
        assert flag in attack, flag
    assert dict(zip(args[::2], args[1::2], strict=True)) == {
        "--list-path": "/v/items",
        "--page-path": "/p/",
        "--write-path": "/api/garages",  # not named: the bodies go to our write's path, where nothing is written
        "--flood-path": "/ping",
    }


def response(body: Any, status: int = 200) -> Response:
    return Response(status, {"content-type": "application/json"}, json.dumps(body).encode())


def test_an_api_list_is_read_whatever_its_shape() -> None:
    assert site_mod.items_of([1, 2]) == [1, 2]
    assert site_mod.items_of({"count": 2, "results": [1, 2], "next": None}) == [1, 2]
    assert site_mod.items_of({"total": 2, "vehicles": [1, 2]}) == [1, 2]
    assert site_mod.items_of({"a": [1], "b": [2]}) is None  # two lists: which one cannot be told
    assert site_mod.items_of("text") is None
    assert site_mod.json_of(Response(200, {}, b"<html>")) is None
    assert "HTTP 404" in site_mod.shape_of(response({"detail": "no"}, 404))


# --- the locustfile on another site: only the contract's paths -------------------------------------

CHILD = """
import importlib.util, json, sys
from locust.env import Environment
spec = importlib.util.spec_from_file_location("site_locustfile", sys.argv[1])
scenario = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scenario)
env = Environment(user_classes=[scenario.Browser, scenario.ApiClient, scenario.CpuHog])
env.create_local_runner()
for cls in (scenario.Browser, scenario.ApiClient, scenario.CpuHog):
    cls.host = sys.argv[2]
    user = cls(env)
    user.on_start()
    for task in cls.tasks:
        task(user)
print(json.dumps(sorted(name for (name, _), entry in env.stats.entries.items())))
"""


class Recording(BaseHTTPRequestHandler):
    asked: ClassVar[list[tuple[str, str, bytes]]] = []

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).asked.append((self.command, self.path, body))
        data = json.dumps({"ok": True}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recording.asked = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def run_users(host: str, env: dict[str, str]) -> list[str]:
    import os

    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(LOADTESTS / "site_locustfile.py"), host],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **env},
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_on_another_site_the_users_ask_only_the_contract(server: str) -> None:
    contract = target.Target(
        deployed=True,
        api_list="/v1/items",
        public_page="/catalogue/",
        api_probe="/v1/ping",
        api_write="POST /v1/items",
        api_write_body='{"label": "x {unique}"}',
    ).site
    names = run_users(server, contract.environment())
    paths = {path.split("?")[0] for _, path, _ in Recording.asked}
    assert paths <= {"/", "/v1/items", "/catalogue/", "/v1/ping"}, paths
    writes = [(path, body) for method, path, body in Recording.asked if method == "POST"]
    assert writes and all(p == "/v1/items" and json.loads(b)["label"].startswith("x ") for p, b in writes), writes
    assert "POST /v1/items" in names


def test_without_a_named_write_the_users_on_another_site_only_read(server: str) -> None:
    contract = target.Target(deployed=True, api_list="/v1/items").site
    run_users(server, contract.environment())
    assert Recording.asked and all(method == "GET" for method, _, _ in Recording.asked)
    assert not [p for _, p, _ in Recording.asked if p.startswith(("/api/keys", "/api/garages", "/cles/"))]
