"""The target-quality searches a run folder holds (`vmafkit target --run DIR`): their file format
(one JSON per search in DIR/targets/, written atomically) and the report's section listing them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_json, read_json
from vmafkit.report.figures import esc, format_number

SCHEMA = "vmafkit-target-v1"
MAX_SEARCHES = 200  # listed in the report, newest names first after that


def search_file_name(payload: Mapping[str, Any]) -> str:
    """One name per title (its bytes: two files of one name are two titles), encoder, preset,
    target, pool and what was encoded (samples or the whole title)."""
    title = Path(str(payload["title"])).stem
    encoded = "full" if payload["encoded"] == "full title" else "samples"
    return (
        f"{title}__{str(payload['title_sha256'])[:8]}__{payload['encoder']}__{payload['preset']}__"
        f"vmaf{payload['target']:g}__{payload['pool']}__{encoded}.json"
    )


def write_search(out: str | Path, payload: Mapping[str, Any]) -> Path:
    """One search's JSON into OUT/targets/; a later search of the same title, encoder, preset,
    target and pool replaces it."""
    folder = layout.targets_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(folder / search_file_name(payload), dict(payload))


def read_searches(out: str | Path) -> list[dict[str, Any]]:
    """The searches a run folder holds, by file name; files that are not one are skipped."""
    folder = layout.targets_dir(out)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json"))[:MAX_SEARCHES]:
        try:
            data = read_json(path, what="target search")
        except InputError:
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA and _well_formed(data):
            found.append(data)
    return found


def _well_formed(data: Mapping[str, Any]) -> bool:
    """The fields the report reads, of the types it reads them as (a damaged file is skipped)."""
    rungs = data.get("rungs")
    if not isinstance(rungs, list) or not all(isinstance(r, dict) for r in rungs):
        return False
    if not all(isinstance(r.get("verified"), (dict, type(None))) for r in rungs):
        return False
    return all(isinstance(data.get(k), str) for k in ("title", "encoder", "preset", "pool", "encoded"))


def targets_section(out: str | Path) -> str:
    """A table: per search, the answer, its score and bitrate, the probes, and the full encode's
    score when it was verified."""
    rows = []
    for search in read_searches(out):
        best = next((r for r in search.get("rungs", []) if r.get("rung") == search.get("rung")), None) or {}
        verified = best.get("verified") or {}
        cells = [
            Path(str(search.get("title"))).name,
            f"{search.get('encoder')} {search.get('preset')}",
            f"{search.get('pool')} ≥ {format_number(search.get('target'), 1)}",
            str(search.get("encoded")),
            "none" if search.get("cq") is None else f"{search.get('cq')} ({search.get('rung')})",
            format_number(best.get("vmaf"), 2),
            format_number(best.get("rate_kbps"), 0),
            str(search.get("probes")),
            "–"
            if not verified
            else f"{format_number(verified.get('vmaf'), 2)} ({'meets' if verified.get('meets') else 'MISSES'})",
        ]
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    header = ["title", "encoder", "target", "encoded", "cq (rung)", "vmaf", "kbps", "probes", "full title (--verify)"]
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
    return (
        f"<p>{len(rows)} search(es) of <code>vmafkit target --run</code>. The vmaf is the pooled score of what "
        "was encoded (samples or the whole title); the last column is the whole title's encode at the answer.</p>"
        f"<table>{head}{''.join(rows)}</table>"
    )
