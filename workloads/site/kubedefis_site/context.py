"""Template context shared by every page."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site_version(request: HttpRequest) -> dict[str, Any]:
    """The version of the site's code (défi 8): v2 shows a banner and links /nouveautes/."""
    return {"site_version": settings.SITE_VERSION}
