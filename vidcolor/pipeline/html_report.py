"""``OUT/vidcolor-report.html``: the run report as one self-contained page people can look at.

Pure rendering from the dict of :meth:`Report.to_dict` (so ``vidcolor report OUT`` can rebuild it
from the JSON alone). Inline CSS, no script, no network resource: the only things the page loads are
the thumbnails next to it under OUT, by relative URL, lazily. Everything that comes from a file name,
an error message or the config is escaped; a Content-Security-Policy forbids scripts anyway.
"""

from __future__ import annotations

import html
from urllib.parse import quote

MAX_CUTS_SHOWN = 8  # more scene cuts fold into a <details> so a long film keeps its row short
THUMB_SHOWN_HEIGHT = 64  # CSS pixels; the JPEG is 96 high, sharp on high-DPI screens
REF_SHOWN_HEIGHT = 40  # a reference's thumbnail, beside the result's

CSS = """
:root { color-scheme: light; --ok: #1a7f37; --failed: #cf222e; --skipped: #6e7781; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1f2328; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
.out { color: #57606a; margin: 0 0 1em; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: .6em; margin-bottom: 1em; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .4em .8em; min-width: 7em; }
.card b { display: block; font-size: 1.4em; }
.card.failed b { color: var(--failed); } .card.ok b { color: var(--ok); }
table.inputs { border-collapse: collapse; width: 100%; }
.inputs th, .inputs td { border-bottom: 1px solid #d8dee4; padding: 3px 6px; text-align: left;
  vertical-align: top; }
.inputs th { position: sticky; top: 0; background: #f6f8fa; }
.inputs td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.name { overflow-wrap: break-word; }
.err { color: var(--failed); font-family: ui-monospace, monospace; font-size: 12px;
  white-space: pre-wrap; word-break: break-word; }
.status { font-weight: 600; } .status.ok { color: var(--ok); }
.status.failed { color: var(--failed); } .status.skipped { color: var(--skipped); }
tr.failed { background: #fff5f5; }
img.thumb { height: THUMB_Hpx; display: block; background: #eee; }
.cuts { font-size: 12px; color: #57606a; }
.refs { font-size: 12px; color: #57606a; margin-top: 4px; }
.refitem { display: flex; gap: 6px; align-items: center; margin-top: 2px; }
img.ref { height: REF_Hpx; background: #eee; }
details.settings { margin: 1em 0; color: #57606a; }
details.settings td { padding: 0 1em 0 0; }
""".replace("THUMB_H", str(THUMB_SHOWN_HEIGHT)).replace("REF_H", str(REF_SHOWN_HEIGHT))

# No script may run, whatever a file name contains; images only from beside the report.
CSP = "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'"
ORDER = {"failed": 0, "ok": 1, "skipped": 2}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def href(relpath: str) -> str:
    """A relative URL for a path under OUT (percent-encoded: ':' can never start a scheme)."""
    return esc(quote(relpath, safe="/"))


def clock(seconds: float) -> str:
    """``h:mm:ss.s`` (or ``m:ss.s`` under an hour)."""
    minutes, secs = divmod(max(0.0, float(seconds)), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def relative_to(root: str, uri: str | None) -> str | None:
    """``uri`` relative to the output root, or None when it is not under it."""
    if not uri:
        return None
    prefix = root.rstrip("/") + "/"
    return uri[len(prefix) :] if uri.startswith(prefix) and len(uri) > len(prefix) else None


def common_dir(uris: list[str]) -> str:
    """The longest ``/``-ending prefix all ``uris`` share ("" for none): rows show the rest."""
    if not uris:
        return ""
    first, last = min(uris), max(uris)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[: first.rfind("/", 0, n) + 1]


def render_html(report: dict) -> str:
    """The whole page for one report dict (``Report.to_dict()`` or ``vidcolor-report.json``)."""
    root = str(report.get("output", ""))
    inputs = sorted(
        report.get("inputs", []),
        key=lambda r: (ORDER.get(r.get("status"), 3), str(r.get("input"))),
    )
    base = common_dir([str(r.get("input", "")) for r in inputs])
    rows = "\n".join(_row(r, root, base) for r in inputs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vidcolor report: {esc(root)}</title>
<style>{CSS}</style></head>
<body>
<h1>vidcolor report</h1>
<p class="out">inputs: {esc(base or "-")}<br>output: {esc(root)}</p>
{_cards(report.get("totals", {}))}
{_settings(report.get("config", {}))}
<table class="inputs">
<thead><tr><th>status</th><th>input</th><th>before | after</th><th>duration</th><th>frames</th>
<th>frames/s</th><th>scene cuts</th><th>output</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""


def _cards(totals: dict) -> str:
    cards = [
        ("inputs", totals.get("inputs", 0), ""),
        ("ok", totals.get("ok", 0), "ok"),
        ("skipped", totals.get("skipped", 0), ""),
        ("failed", totals.get("failed", 0), "failed" if totals.get("failed") else ""),
        ("frames", totals.get("frames", 0), ""),
        ("footage", clock(totals.get("duration", 0)), ""),
        ("wall time", clock(totals.get("wall_time", 0)), ""),
        ("frames/s", f"{float(totals.get('fps', 0)):.1f}", ""),
        ("segments resumed", totals.get("segments_resumed", 0), ""),
        ("scene cuts", totals.get("scene_cuts", 0), ""),
    ]
    items = "".join(
        f'<div class="card {cls}"><b>{esc(value)}</b>{esc(label)}</div>'
        for label, value, cls in cards
    )
    return f'<div class="cards">{items}</div>'


def _settings(config: dict) -> str:
    rows = "".join(
        f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in sorted(config.items())
    )
    return f'<details class="settings"><summary>settings</summary><table>{rows}</table></details>'


def _row(r: dict, root: str, base: str) -> str:
    """One input; its name relative to ``base`` (the full name in the tooltip)."""
    status, name = str(r.get("status", "")), str(r.get("input", ""))
    cls = esc(status)
    short = name[len(base) :] or name
    error = str(r.get("error") or "").removeprefix(f"{name}: ")  # the row already names it
    error = f'<div class="err">{esc(error)}</div>' if error else ""
    video = r.get("kind") in ("video", "sequence")
    duration, fps = float(r.get("duration") or 0), float(r.get("fps") or 0)
    cells = [
        f'<td class="status {cls}">{esc(status)}</td>',
        f'<td><div class="name" title="{esc(name)}">{esc(short)}</div>{error}</td>',
        f"<td>{_thumb(r.get('thumbnail'))}{_references(r.get('references') or [])}</td>",
        f'<td class="n">{clock(duration) if video and duration else ""}</td>',
        f'<td class="n">{esc(r.get("frames") or "")}</td>',
        f'<td class="n">{f"{fps:.1f}" if video and fps else ""}</td>',
        f"<td>{_cuts(r.get('scene_cuts') or [])}{_timing(r)}</td>",
        f"<td>{_links(r, root)}</td>",
    ]
    return f'<tr class="{cls}">{"".join(cells)}</tr>'


def _thumb(relpath: str | None) -> str:
    if not relpath:
        return ""
    url = href(relpath)
    return (
        f'<a href="{url}"><img class="thumb" loading="lazy" decoding="async" src="{url}" '
        f'height="{THUMB_SHOWN_HEIGHT}" alt="before | after"></a>'
    )


def _references(refs: list[dict]) -> str:
    """Each reference beside the result: its thumbnail, name, kind, frame and the shots it
    reached (shot number from 1, its start, how many of its frames)."""
    items = []
    for ref in refs:
        where = "" if ref.get("frame") is None else f" at {clock(ref.get('time') or 0)}"
        shots = ", ".join(
            f"shot {s['shot'] + 1} ({clock(s['start'])}, {s['frames']} frames)"
            for s in ref.get("shots", [])
        )
        thumb = ref.get("thumbnail")
        img = (
            f'<img class="ref" loading="lazy" src="{href(thumb)}" height="{REF_SHOWN_HEIGHT}" '
            f'alt="{esc(ref.get("name", ""))}">'
            if thumb
            else ""
        )
        text = f"{esc(ref.get('name', ''))} ({esc(ref.get('kind', ''))}{esc(where)})"
        reached = esc(shots) if shots else "reached no frame"
        items.append(f'<div class="refitem">{img}<span>{text}<br>{reached}</span></div>')
    return f'<div class="refs">{"".join(items)}</div>' if items else ""


def _cuts(cuts: list[dict]) -> str:
    times = [esc(clock(c.get("time", 0))) for c in cuts]
    if len(times) <= MAX_CUTS_SHOWN:
        return f'<span class="cuts">{" ".join(times)}</span>'
    shown, rest = " ".join(times[:MAX_CUTS_SHOWN]), " ".join(times[MAX_CUTS_SHOWN:])
    more = len(times) - MAX_CUTS_SHOWN
    return f'<span class="cuts">{shown} <details><summary>+{more} more</summary>{rest}</details></span>'


def _timing(r: dict) -> str:
    """Where the source's timestamps jumped (repaired), and a frame sequence's gaps by number."""
    lines = []
    if jumps := r.get("jumps"):
        at = ", ".join(f"{clock(j.get('time', 0))} ({float(j.get('by', 0)):+.3f} s)" for j in jumps)
        lines.append(f"timestamps jumped at {at}")
    if gaps := r.get("gaps"):
        spans = [_span(g) for g in gaps[:MAX_CUTS_SHOWN]]
        more = f" (+{len(gaps) - MAX_CUTS_SHOWN} more)" if len(gaps) > MAX_CUTS_SHOWN else ""
        lines.append(f"gaps: {', '.join(spans)}{more}")
    return "".join(f'<div class="cuts">{esc(line)}</div>' for line in lines)


def _span(gap: dict) -> str:
    first, last = gap.get("first"), gap.get("last")
    numbers = f"{first}" if first == last else f"{first}-{last}"
    return f"{numbers} {gap.get('reason', '')}".strip()


def _links(r: dict, root: str) -> str:
    """The output (linked when it lies under OUT) and the --preview sheet and clip."""
    out = r.get("output") if r.get("status") != "failed" else None
    rel = relative_to(root, out)
    frames = r.get("kind") == "sequence" and "%" in str(out).rsplit("/", 1)[-1]
    parts = []
    if rel and not frames:
        parts.append(f'<a class="name" href="{href(rel)}">{esc(rel)}</a>')
    elif out:  # a skipped input found elsewhere, a sequence's frames: shown, not linked
        parts.append(f'<span class="name">{esc(out)}</span>')
    for key, label in (("preview_png", "contact sheet"), ("preview_mp4", "side-by-side clip")):
        if r.get(key):
            parts.append(f'<a href="{href(r[key])}">{label}</a>')
    return "<br>".join(parts)
