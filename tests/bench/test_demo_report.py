"""``tierfs-bench demo`` at a tiny size: the tour runs, and its report renders in Chromium;
its figures say what they mean either way they come out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from tierfs_bench.cli import main
from tierfs_bench.demo_storage import _sooner_or_later

SECTIONS = ["read-cache", "erasure-coding", "write-back", "daemon", "shuffle"]


def test_the_tour_prints_every_section_and_its_report_renders_in_chromium(seaweed, tmp_path,
                                                                          capsys):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is required: make test installs it (apt-get install chromium)"
    out = tmp_path / "demo-report"

    code = main(["demo", "--tiny", "--quiet", "--out", str(out), "--endpoint",
                 seaweed.endpoint_url, "--key", seaweed.access_key,
                 "--secret", seaweed.secret_key])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "== tierfs in one screen ==" in printed and "BYTES DIFFER" not in printed
    summary = json.loads((out / "summary.json").read_text())
    assert [s["key"] for s in summary["sections"]] == SECTIONS
    assert all(s["verified"] and len(s["lines"]) >= 2 for s in summary["sections"])
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", (out / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = result.stdout
    assert '<table id="summary">' in dom, result.stderr[-2000:]
    for key in SECTIONS:
        section = dom.split(f'<section id="{key}">')[1].split("</section>")[0]
        assert "<li>" in section
        width = re.search(r'data-loaded="(\d+)"', section)  # the plot was decoded and shown
        assert width and int(width.group(1)) > 100, section[-300:]


def test_the_write_back_line_says_later_when_the_store_was_faster():
    assert _sooner_or_later(direct_s=0.71, ack_s=0.40) == "1.8x sooner"
    assert _sooner_or_later(direct_s=0.68, ack_s=0.80).startswith("1.2x later")
