"""Template context shared by every page."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def release(request: HttpRequest) -> dict[str, Any]:
    """The release of the code (défi 8): v2 shows a banner and links /nouveautes/."""
    return {"kubedefis_release": settings.KUBEDEFIS_RELEASE}
