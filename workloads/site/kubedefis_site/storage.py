"""Static files storage: hashed + compressed by whitenoise at image build time."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Falls back to the plain name when collectstatic has not run (tests, local runs).

    In the image collectstatic always ran, so pages get hashed, cache-forever URLs.
    """

    manifest_strict = False

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:
            return name
