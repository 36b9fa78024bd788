"""Benchmark of the kubedefis Django site: CPU milliseconds per request, throughput, latency.

Starts a throwaway PostgreSQL and gunicorn (the production gunicorn.conf.py) on 127.0.0.1, loads
`load_sample --size large`, then runs each scenario of site_locustfile.py alone with Locust as a
library, and prints a markdown table. CPU per request (gunicorn master + workers, from /proc) is the
figure that holds on a busy machine; requests/s and latencies depend on what else runs.

Writes are authenticated as the API requires: a staff user `bench-staff` and a random bearer token,
registered with `manage.py api_token ensure` and handed to Locust in KUBEDEFIS_API_TOKEN. The
per-client limits (défi 18) are switched off: every Locust user comes from 127.0.0.1, and what is
measured is the cost of a request, not the limit.

    python loadtests/bench_site.py [--duration 20] [--users 8] [--cache locmem|off]
"""

# Locust patches the standard library with gevent: it must come first.
import locust.env  # noqa: I001
import gevent

import argparse
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SITE_DIR = ROOT / "workloads" / "site"
sys.path[:0] = [str(SITE_DIR), str(Path(__file__).resolve().parent)]

import site_locustfile  # noqa: E402
from kubedefis_site_testing.postgres import ThrowawayPostgres, free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After ")": state is fields[0]; utime, stime, cutime, cstime are fields 11..14.
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def gunicorn_cpu_seconds(master: int) -> float:
    """Master + live workers + workers already exited (counted in the master's children times)."""
    total = process_cpu_seconds(master, with_reaped_children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                total += process_cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return total


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=SITE_DIR, env=env, check=True, stdout=subprocess.DEVNULL)


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready after {timeout}s")
        time.sleep(0.3)


def run_scenario(user_class: type, host: str, users: int, duration: float, master: int) -> dict[str, Any]:
    runnable = type(user_class.__name__, (user_class,), {"abstract": False, "host": host})
    env = locust.env.Environment(user_classes=[runnable], host=host)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(2)  # every user has done its setup requests
    env.stats.reset_all()
    site_locustfile.CACHE_COUNTS.clear()
    cpu_before, started = gunicorn_cpu_seconds(master), time.monotonic()
    gevent.sleep(duration)
    cpu_after, elapsed = gunicorn_cpu_seconds(master), time.monotonic() - started
    runner.quit()
    total = env.stats.total
    hits = sum(count for (_name, state), count in site_locustfile.CACHE_COUNTS.items() if state == "hit")
    cached = sum(count for (_name, state), count in site_locustfile.CACHE_COUNTS.items() if state in ("hit", "miss"))
    return {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": total.num_requests / elapsed,
        "p50": total.get_response_time_percentile(0.5),
        "p95": total.get_response_time_percentile(0.95),
        "cpu_ms": 1000 * (cpu_after - cpu_before) / max(1, total.num_requests),
        "hit_ratio": f"{100 * hits / cached:.0f}%" if cached else "n/a",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per scenario")
    parser.add_argument("--users", type=int, default=8, help="concurrent Locust users (no think time)")
    parser.add_argument("--cache", choices=("locmem", "off"), default="locmem", help="off = an unreachable Redis")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--threads", default="4")
    options = parser.parse_args()

    with ThrowawayPostgres() as postgres:
        port = free_port()
        env = {
            **os.environ,
            **postgres.env(),
            "DJANGO_SECRET_KEY": "benchmark-only-secret",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_LOG_LEVEL": "WARNING",
            "GUNICORN_WORKERS": options.workers,
            "GUNICORN_THREADS": options.threads,
            "DJANGO_RATELIMIT_RATE": "0",
            "DJANGO_CLIENT_MAX_CONCURRENCY": "0",
            site_locustfile.API_TOKEN_ENV: "kd_" + secrets.token_urlsafe(32),
        }
        env.pop("CACHE_URL", None)
        if options.cache == "off":
            # Every cache call fails and falls back to computing the response: the uncached cost.
            env["CACHE_URL"] = f"redis://127.0.0.1:{free_port()}/0"
        manage(env, "migrate", "--noinput")
        manage(env, "load_sample", "--size", "large")
        token_env = site_locustfile.API_TOKEN_ENV
        manage(env, "api_token", "ensure", "--user", "bench-staff", "--staff", "--token-from-env", token_env)
        os.environ[token_env] = env[token_env]  # the Locust users' writes send it
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
        command += ["--max-requests", "0"]
        gunicorn = subprocess.Popen(
            command, cwd=SITE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            host = f"http://127.0.0.1:{port}"
            wait_ready(f"{host}/readyz")
            results = {}
            for label, user_class in site_locustfile.BENCH_SCENARIOS.items():
                results[label] = run_scenario(user_class, host, options.users, options.duration, gunicorn.pid)
                print(f"done: {label}", file=sys.stderr)
        finally:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)

    load = os.getloadavg()
    print(
        f"\n{options.users} Locust users without think time, {options.duration:g} s per scenario, gunicorn "
        f"{options.workers} workers x {options.threads} threads, cache {options.cache}, "
        f"load average after the run {load[0]:.1f} on {os.cpu_count()} CPUs.\n"
    )
    print("| scenario | requests | failures | req/s | p50 ms | p95 ms | CPU ms/request | cache hits |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in results.items():
        print(
            f"| {label} | {r['requests']} | {r['failures']} | {r['rps']:.0f} | {r['p50']:.0f} "
            f"| {r['p95']:.0f} | {r['cpu_ms']:.2f} | {r['hit_ratio']} |"
        )


if __name__ == "__main__":
    main()
