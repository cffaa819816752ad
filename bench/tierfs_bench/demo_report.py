"""The demo's outputs: the one-screen summary, and ``demo-report/`` (HTML, PNG plots, JSON).

The HTML page is self-contained but for its plots, which sit beside it, so the directory
can be copied or served as it is.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path

from tierfs_bench.demo_tour import Section


def summary(sections: list[Section], seconds: float) -> str:
    width = max(len(s.title) for s in sections)
    lines = ["", "== tierfs in one screen ==" + f" (tour took {seconds:.0f} s)"]
    for section in sections:
        check = "ok" if section.verified else "BYTES DIFFER"
        lines.append(f"  {section.title:<{width}}  {section.headline}  [{check}]")
    lines.append("  full tables: tierfs-bench read | ec | writecache | daemon | shuffle")
    return "\n".join(lines)


def plot(section: Section, directory: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values = list(section.bars), list(section.bars.values())
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.4))
    bars = axes.barh(labels, values, color="#3b6ea5")
    axes.bar_label(bars, labels=[f"{v:,.0f}" if v >= 10 else f"{v:.2g}" for v in values],
                   padding=3, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(section.unit)
    axes.set_title(section.title)
    axes.margins(x=0.15)
    figure.tight_layout()
    path = directory / f"{section.key}.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def write(sections: list[Section], directory: Path, seconds: float, about: str) -> Path:
    """index.html, one PNG per section and summary.json in ``directory``; the page's path."""
    directory.mkdir(parents=True, exist_ok=True)
    parts = []
    for section in sections:
        image = plot(section, directory)
        items = "".join(f"<li>{html.escape(line)}</li>" for line in section.lines)
        parts.append(
            f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>'
            f"<ul>{items}</ul>"
            f'<img src="{image.name}" alt="{html.escape(section.title)}" '
            # marks a plot the browser could decode (a missing file stays unmarked)
            f'onload="this.dataset.loaded=this.naturalWidth"></section>')
    rows = "".join(
        f"<tr><td>{html.escape(s.title)}</td><td>{html.escape(s.headline)}</td>"
        f"<td>{'ok' if s.verified else 'BYTES DIFFER'}</td></tr>" for s in sections)
    page = directory / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>tierfs demo</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "img{max-width:100%}section{margin-top:2em}</style></head><body>"
        f"<h1>tierfs: a guided tour</h1><p>{html.escape(about)}; the tour took "
        f"{seconds:.0f} s.</p>"
        f'<table id="summary"><tr><th>capability</th><th>measured</th><th>bytes</th></tr>'
        f"{rows}</table>{''.join(parts)}</body></html>")
    (directory / "summary.json").write_text(json.dumps(
        {"seconds": seconds, "about": about, "sections": [asdict(s) for s in sections]},
        indent=2))
    return page
