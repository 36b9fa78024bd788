"""The NinjaAPI instance mounted at /api/ (OpenAPI at /api/openapi.json, Swagger UI at /api/docs)."""

from ninja import NinjaAPI

from api import errors
from api.routers import cars, garages, keys, stats, users

api = NinjaAPI(
    title="kubedefis garage API",
    version="1.0.0",
    description=(
        "Garages, cars (voitures), keys (clés) and key loans. Errors are JSON "
        '`{"message": ..., "fields": {...}}`. Lists are paginated: `page` (from 1) and `page_size` '
        "(default 20, at most 100; a larger value is a 422, not clamped). Reads are public; every "
        "write needs credentials: `Authorization: Bearer <token>` (`manage.py api_token create`) or "
        "a signed-in session with its CSRF token. Without them a write is a 401; staff manage "
        "garages, cars and keys, a user lends keys to themselves and gives back their own loans (403 "
        "otherwise)."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
api.add_router("/garages", garages.router)
api.add_router("/cars", cars.router)
api.add_router("/keys", keys.router)
api.add_router("/users", users.router)
api.add_router("/stats", stats.router)
