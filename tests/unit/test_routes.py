import pytest

from kubedefis.harness import routes


def ingress(name, rules, default=None):
    spec = {"rules": rules}
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    return {"kind": "Ingress", "metadata": {"name": name}, "spec": spec}


def rule(host, *paths):
    return {
        "host": host,
        "http": {
            "paths": [
                {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 8080}}}}
                for p, t, s in paths
            ]
        },
    }


SITE = [
    ingress("api", [rule("django.g7.example.org", ("/api", "Prefix", "garage-api"))]),
    ingress("front", [rule("django.g7.example.org", ("/", "Prefix", "garage-front"))]),
]


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/cars", "garage-api"),
        ("/api", "garage-api"),
        ("/api/", "garage-api"),
        ("/apix", "garage-front"),  # Prefix matches whole path elements
        ("/", "garage-front"),
        ("/voitures/?page=2", "garage-front"),
    ],
)
def test_the_longest_matching_prefix_across_ingresses_wins(path, service):
    route = routes.match(SITE, "django.g7.example.org", path)
    assert route is not None and route.service == service and route.port == 8080


def test_exact_paths_hosts_and_default_backends():
    objects = [
        ingress("exact", [rule("a.example.org", ("/api/cars", "Exact", "cars"), ("/api", "Prefix", "api"))]),
        ingress("wild", [rule("*.example.org", ("/", "Prefix", "wild"))]),
        ingress("any", [rule(None, ("/", "Prefix", "any"))], default="fallback"),
    ]
    assert routes.match(objects, "a.example.org", "/api/cars").service == "cars"
    assert routes.match(objects, "a.example.org", "/api/cars/1").service == "api"
    assert routes.match(objects, "a.example.org", "/").service == "wild"  # a host rule before a hostless one
    assert routes.match(objects, "b.example.org", "/x").service == "wild"
    assert routes.match(objects, "c.b.example.org", "/x").service == "any"  # a wildcard covers one label
    assert routes.match(objects[:1], "other.org", "/") is None
    route = routes.match([ingress("d", [], default="fallback")], "other.org", "/")
    assert route is not None and route.service == "fallback" and route.path_type == "defaultBackend"
    assert "Ingress/d" in str(route)
