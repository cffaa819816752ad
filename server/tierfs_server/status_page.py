"""``GET /``: a status page for people, rendered on the server with the real figures.

It needs no JavaScript (and so no token in a browser script): the page reloads itself
every few seconds. Everything shown is escaped: paths come from users.
"""

from __future__ import annotations

from html import escape

_REFRESH_S = 3


def _size(value: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


def render(stats: dict) -> str:
    ratio = stats.get("hit_ratio")
    tier_rows = "".join(
        f"<tr><td>{escape(t['medium'])}</td><td>{escape(str(t['path'] or '(memory)'))}</td>"
        f"<td class=num>{_size(t['used'])}</td><td class=num>{_size(t['capacity'])}</td>"
        f"<td class=num>{100 * t['used'] / t['capacity'] if t['capacity'] else 0:.1f}%</td>"
        f"<td class=num>{t['blocks']}</td><td class=num>{t['evictions']}</td></tr>"
        for t in stats["tiers"]
    )
    hot_rows = "".join(
        f"<tr><td>{escape(path)}</td><td class=num>{count}</td></tr>"
        for path, count in stats.get("hottest_paths", [])
    ) or "<tr><td colspan=2>no reads yet</td></tr>"
    peer_rows = "".join(
        f"<tr><td>{escape(p['url'])}</td><td>{'self' if p['self'] else ''}</td>"
        f"<td>{'down' if p['down'] else 'up'}</td></tr>"
        for p in stats.get("peers", [])
    ) or "<tr><td colspan=3>no peers configured</td></tr>"
    counters = "".join(
        f"<tr><td>{name.replace('_', ' ')}</td><td class=num>{stats.get(name, 0)}</td></tr>"
        for name in ("requests", "hits", "misses", "evictions", "promotions", "demotions",
                     "corrupt_blocks", "under_store_bytes", "peer_bytes")
    )
    shuffle = stats.get("shuffle")
    shuffle_rows = "".join(
        f"<tr><td>{label}</td><td class=num>{value}</td></tr>" for label, value in (
            ("shuffles", shuffle["shuffles"]),
            ("pushed", _size(shuffle.get("shuffle_pushed_bytes", 0))),
            ("merged on disk", _size(shuffle["used_bytes"])),
            ("served", _size(shuffle.get("shuffle_served_bytes", 0))))
    ) if shuffle else "<tr><td colspan=2>no [shuffle] section configured</td></tr>"
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<meta http-equiv=refresh content={_REFRESH_S}>
<title>tierfs daemon</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
th {{ background: #f3f3f3; }}
</style></head><body>
<h1>tierfs daemon</h1>
<p id=hit-ratio>Hit ratio: <b>{'n/a' if ratio is None else f'{100 * ratio:.1f}%'}</b></p>
<h2>Tiers</h2>
<table id=tiers><tr><th>medium</th><th>path</th><th>used</th><th>capacity</th>
<th>usage</th><th>blocks</th><th>evictions</th></tr>{tier_rows}</table>
<h2>Counters</h2><table id=counters>{counters}</table>
<h2>Hottest files</h2>
<table id=hottest><tr><th>path</th><th>block reads</th></tr>{hot_rows}</table>
<h2>Shuffle</h2><table id=shuffle>{shuffle_rows}</table>
<h2>Peers</h2><table id=peers><tr><th>url</th><th></th><th>state</th></tr>{peer_rows}</table>
</body></html>"""
