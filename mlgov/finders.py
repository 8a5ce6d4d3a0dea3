"""A staticfiles finder for plotly.js: the copy shipped inside the plotly Python package, served by the app
itself at `<STATIC_URL>vendor/plotly/plotly.min.js` (WhiteNoise in development, collectstatic in
production). Pages never load plotly.js from a CDN, and the version always matches the Python library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "vendor/plotly/plotly.min.js"
_PACKAGE_DATA = Path(plotly.__file__).resolve().parent / "package_data"


class _PlotlyStorage(FileSystemStorage):
    prefix = "vendor/plotly"


class PlotlyJsFinder(BaseFinder):
    """Finds only `vendor/plotly/plotly.min.js`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storage = _PlotlyStorage(location=str(_PACKAGE_DATA))

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        found = str(_PACKAGE_DATA / "plotly.min.js") if path == PLOTLY_JS else None
        if find_all or kwargs.get("all"):
            return [found] if found else []
        return found or []

    def list(self, ignore_patterns: Any) -> Any:
        yield "plotly.min.js", self.storage
