"""The HTML job report: the timeline arithmetic, a self-contained page, and rendering in headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from ota_fleet import aws_context, make_ota_fleet

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.explore import report
from iotfleet.fleet.explore.executions import ExecutionRow
from iotfleet.fleet.explore.pages import write_report
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, run_simulation

CHROMIUM = "/usr/bin/chromium"
FAST = SimulationOptions(poll_initial=0.05, poll_max=0.2, job_check_interval=0.1)


def row(thing: str, status: str, queued: float, started: float | None, updated: float) -> ExecutionRow:
    return ExecutionRow(thing, status, 1, 0, queued, started, updated)


def test_the_timeline_counts_each_execution_in_its_state_at_each_moment() -> None:
    rows = [
        row("a", "SUCCEEDED", 0.0, 10.0, 20.0),
        row("b", "FAILED", 0.0, 30.0, 40.0),
        row("c", "IN_PROGRESS", 50.0, 60.0, 60.0),
        row("d", "CANCELED", 0.0, None, 70.0),
        row("e", "QUEUED", 80.0, None, 80.0),
    ]
    points = report.timeline(rows, {}, points=9)  # every 10 seconds from 0 to 80
    at = {round(p.at): {k: v for k, v in p.counts.items() if v} for p in points}
    assert at[0] == {"QUEUED": 3}
    assert at[10] == {"IN_PROGRESS": 1, "QUEUED": 2}
    assert at[20] == {"SUCCEEDED": 1, "QUEUED": 2}
    assert at[30] == {"SUCCEEDED": 1, "IN_PROGRESS": 1, "QUEUED": 1}
    assert at[50] == {"SUCCEEDED": 1, "FAILED": 1, "QUEUED": 2}
    assert at[70] == {"SUCCEEDED": 1, "FAILED": 1, "IN_PROGRESS": 1, "CANCELED": 1}
    assert at[80] == {"SUCCEEDED": 1, "FAILED": 1, "IN_PROGRESS": 1, "CANCELED": 1, "QUEUED": 1}
    assert report.timeline([], {}) == []


def make_report(emulator: LocalEmulator, boto_clients: Any, *, failure_details: int | None = None) -> report.ReportData:
    make_ota_fleet(
        boto_clients, 40,
        abortConfig={"criteriaList": [{"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 60,
                                       "minNumberOfExecutedThings": 10}]},
        timeoutConfig={"inProgressTimeoutInMinutes": 20},
        description="Firmware 1.2.0 <canary> & friends",
    )  # fmt: skip
    model = BehaviourModel.from_options(
        success_rate=70, failure_weights="checksum=2,install=1,reject=1", latency="0", seed=12
    )
    with aws_context(emulator.endpoint_url) as ctx:
        run_simulation(ctx, plan_simulation(ctx, job_id="ota-1"), model, FAST)
        return report.gather_report(ctx, "ota-1", failure_details=failure_details)


def test_the_page_is_self_contained_and_shows_every_part(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path) -> None:
    data = make_report(emulator, boto_clients)
    page = report.render_html(data)
    path = write_report(tmp_path / "report.html", page)
    assert path.read_text(encoding="utf-8") == page
    # Nothing is fetched: no scripts, no external stylesheets, images or fonts.
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page, re.IGNORECASE)
    assert not re.search(r"(src|href)\s*=", page, re.IGNORECASE)
    for part in ("Status funnel", "Executions over time", "Failures", "Abort and timeout", "Rollout and retries",
                 "Settings", "Job document", "<svg", "<polygon"):  # fmt: skip
        assert part in page
    assert "Firmware 1.2.0 &lt;canary&gt; &amp; friends" in page  # escaped
    assert "${aws:iot:package:fw-main:version:1.2.0:artifact:s3-presigned-url}" in page
    failures = {(g.status, g.failure_type): g.count for g in data.failure_groups}
    statuses = Counter(r.status for r in data.executions)
    assert sum(failures.values()) == data.failures_total == statuses["FAILED"] + statuses["REJECTED"]
    assert ("FAILED", "checksum") in failures
    assert data.calls == {"DescribeJob": 1, "GetJobDocument": 1, "ListJobExecutionsForJob": 1,
                          "DescribeJobExecution": data.failures_total}  # fmt: skip


def test_failure_details_read_an_even_sample(emulator: LocalEmulator, boto_clients: Any) -> None:
    data = make_report(emulator, boto_clients, failure_details=3)
    assert data.failures_read == 3 < data.failures_total
    assert sum(g.count for g in data.failure_groups) == 3
    assert f"an even sample of 3 of {data.failures_total}" in report.render_html(data)


def png_rows(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, channels and unfiltered pixel rows of an 8-bit truecolour PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IHDR":
            header = data[offset + 8 : offset + 8 + length]
        elif kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), "expected 8-bit RGB or RGBA"
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind in (1, 3, 4):
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                up = previous[x]
                if kind == 1:
                    line[x] = (line[x] + left) & 0xFF
                elif kind == 3:
                    line[x] = (line[x] + (left + up) // 2) & 0xFF
                else:
                    corner = previous[x - channels] if x >= channels else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, channels, rows


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None and not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_the_report_renders_in_headless_chromium(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path) -> None:
    page = write_report(tmp_path / "report.html", report.render_html(make_report(emulator, boto_clients)))
    shot = tmp_path / "report.png"
    browser = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    completed = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1800", "--force-device-scale-factor=0.5",
         "--hide-scrollbars", f"--screenshot={shot}",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    width, channels, rows = png_rows(shot)
    assert (width, len(rows)) == (640, 900)
    colours: Counter[bytes] = Counter()
    for line in rows[::3]:
        for x in range(0, len(line), channels * 2):
            colours[line[x : x + 3]] += 1
    # A blank or failed render has a handful of colours; the report has the header band, the cards, the
    # chart's status colours and text.
    assert len(colours) > 50
    top, count = colours.most_common(1)[0]
    assert count / sum(colours.values()) < 0.8, f"the page is mostly #{top.hex()}"
    green = sum(n for c, n in colours.items() if c[1] > 120 and c[0] < 80 and c[2] < 110)
    assert green > 50  # the succeeded area of the timeline and the funnel
