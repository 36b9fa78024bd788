"""helm test: the site answers through its Services, and the API reads the database.

Run by the test pod with the site image's own Python (standard library only):
    python http_check.py CHECKS_JSON TIMEOUT_SECONDS
CHECKS_JSON is a list of {"url", "component", "json", "min_cars"?}: each URL must answer 200
with the header X-Kubedefis-Component equal to "component" (so the Service reached the right
Deployment); a "json" answer must parse as a JSON object, and "min_cars" checks /api/stats.
Each check is retried for up to a minute (pods that just started may not be Ready yet).
"""

import json
import sys
import time
import urllib.error
import urllib.request

RETRY_FOR_SECONDS = 60


def fetch(url: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": "application/json, text/html"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def check(spec: dict, timeout: float) -> str | None:
    """Returns None when the check passes, else what was wrong."""
    try:
        status, headers, body = fetch(spec["url"], timeout)
    except (OSError, urllib.error.URLError) as error:
        return f"no answer: {error}"
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    component = headers.get("X-Kubedefis-Component")
    if component != spec["component"]:
        return f"X-Kubedefis-Component is {component!r}, expected {spec['component']!r}"
    if spec.get("json"):
        try:
            document = json.loads(body)
        except ValueError:
            return f"not JSON: {body[:200]!r}"
        if not isinstance(document, dict):
            return f"not a JSON object: {body[:200]!r}"
        if "min_cars" in spec and int(document.get("cars", -1)) < spec["min_cars"]:
            return f"cars = {document.get('cars')!r}, expected at least {spec['min_cars']}"
    return None


def main() -> int:
    checks = json.loads(sys.argv[1])
    timeout = float(sys.argv[2])
    failed = 0
    for spec in checks:
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            problem = check(spec, timeout)
            if problem is None or time.monotonic() > deadline:
                break
            time.sleep(2)
        print(f"{'ok  ' if problem is None else 'FAIL'} {spec['url']}" + (f": {problem}" if problem else ""))
        failed += problem is not None
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
