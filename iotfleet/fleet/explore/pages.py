"""The frame every HTML report shares: one head (a content security policy that allows no script and no fetch,
the shared style sheet), the templates under each package's ``templates/``, and the small formatting helpers.

The job report (:mod:`.report`) and the rollout report (:mod:`iotfleet.fleet.rollout.report`) are built on it.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any


def fill_page(package: str, name: str, values: dict[str, str], extra_style: str | None = None) -> str:
    """A report page: the shared frame (``templates/page.html`` here: a head whose content security policy
    allows no script and no fetch, the shared style sheet and ``extra_style`` of ``package``, the header and
    the cards) around the sections of ``package``'s ``templates/<name>``, everything filled from ``values``."""
    shared = _text("iotfleet.fleet.explore", "report.css")
    extra = _text(package, extra_style) if extra_style else ""
    sections = Template(_text(package, name)).substitute(values)
    return Template(_text("iotfleet.fleet.explore", "page.html")).substitute(
        {**values, "style": shared + extra, "sections": sections}
    )


def _text(package: str, name: str) -> str:
    return resources.files(package).joinpath(f"templates/{name}").read_text("utf-8")


def write_report(path: str | Path, page: str) -> Path:
    target = Path(path)
    target.write_text(page, encoding="utf-8")
    return target


def escape(text: Any) -> str:
    """Text made safe for HTML (attributes included)."""
    return html.escape("" if text is None else str(text), quote=True)


def when(epoch: float | None) -> str:
    """A moment as UTC text, for pages."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock_label(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%H:%M:%S")
