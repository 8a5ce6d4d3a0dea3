"""gunicorn settings for serving mlgov: `gunicorn -c python:mlgov.gunicorn_conf mlgov.wsgi` (`make serve`).

Command-line flags (`--bind`, `--workers`) still apply on top of these.
"""

from __future__ import annotations

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Once a worker has imported the app, move everything it holds (some 300 MB of Django, DRF, MLflow and
    Plotly objects) to the collector's permanent generation. Full collections then walk only what requests
    allocate: on the model-version list they halved the pauses behind the p95 (docs/performance.md)."""
    gc.freeze()
