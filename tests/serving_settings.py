"""The test settings with production's static files: a collectstatic'd,
compressed manifest under `SERVING_STATIC_ROOT`.

tests/settings.py swaps the manifest storage out because the suite does not
run collectstatic; the serving tests do, into a directory of their own, to
serve static files the way a deployment does.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.settings import *  # noqa: F403

STATIC_ROOT = Path(os.environ["SERVING_STATIC_ROOT"])
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
