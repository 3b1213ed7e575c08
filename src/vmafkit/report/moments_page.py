"""The page `score --dump DIR` writes beside its pictures (`DIR/index.html`): the per-frame
quality strip with the shots and the worst frames marked, the worst shots, and each worst frame's
reference | distorted picture. Inline CSS and figure, the pictures beside it, no scripts."""

from __future__ import annotations

from pathlib import Path

from vmafkit.io import atomic_write_text
from vmafkit.media.libvmaf import TARGET
from vmafkit.media.moments import DUMP_PAGE
from vmafkit.media.score import PairScore
from vmafkit.report.figures import esc, format_number, quality_strip_figure
from vmafkit.report.page import PAGE_CSS


def strip_for(result: PairScore, title: str = "") -> str:
    """The quality strip of a scored pair, with its shots and worst frames when it has them."""
    moments = result.meta.get("moments", {})
    pairs = [int(row["frame_index"]) for row in result.frames]
    values = [float(row[TARGET]) for row in result.frames]
    worst = [(int(m["frame_index"]), float(m[TARGET]), int(m["rank"])) for m in moments.get("worst_frames", [])]
    spans = [(int(s["first_frame_index"]), int(s["last_frame_index"])) for s in moments.get("shots", [])]
    return quality_strip_figure(pairs, values, shots=spans, worst=worst, title=title)


def render_moments_page(result: PairScore) -> str:
    moments = result.meta.get("moments", {})
    pooled = ", ".join(f"{name} {format_number(value, 2)}" for name, value in result.pooled.items())
    parts = [
        f"<h1>Worst moments</h1><p class='muted'>{esc(result.meta.get('dis'))} against "
        f"{esc(result.meta.get('ref'))}: {len(result.frames)} frames scored with {esc(result.meta.get('vmaf_model'))}; "
        f"VMAF {esc(pooled)}</p>",
        "<section><h2>Per-frame quality</h2>" + strip_for(result) + "</section>",
    ]
    shots = {shot["shot"]: shot for shot in moments.get("shots", [])}
    if shots:
        by = moments.get("worst_shots_by", "mean")
        rows = "".join(
            f"<tr><td>{number}</td><td>{shots[number]['first_ref_frame']}–{shots[number]['last_ref_frame']}</td>"
            f"<td>{shots[number]['scored_frames']}</td>"
            + "".join(f"<td>{format_number(v, 2)}</td>" for v in shots[number][TARGET].values())
            + "</tr>"
            for number in moments.get("worst_shots", sorted(shots))
        )
        pools = "".join(f"<th>VMAF {esc(name)}</th>" for name in next(iter(shots.values()))[TARGET])
        parts.append(
            f"<section><h2>Worst shots (by {esc(by)})</h2><p class='muted'>{len(shots)} shots, split at the "
            f"reference's scene cuts (scdet, threshold {esc(moments.get('scene_cut_threshold'))}).</p>"
            f"<table><thead><tr><th>shot</th><th>reference frames</th><th>scored</th>{pools}</tr></thead>"
            f"<tbody>{rows}</tbody></table></section>"
        )
    figures = []
    for moment in moments.get("worst_frames", []):
        caption = (
            f"#{moment['rank']}: VMAF {format_number(moment[TARGET], 2)}, reference frame {moment['ref_frame']} (left) "
            f"| distorted frame {moment['dis_frame']} (right)"
            + (f", shot {moment['shot']}" if "shot" in moment else "")
        )
        image = f"<img alt='{esc(caption)}' src='{esc(moment['image'])}'>" if moment.get("image") else ""
        figures.append(f"<figure>{image}<figcaption>{esc(caption)}</figcaption></figure>")
    if figures:
        parts.append("<section><h2>Worst frames</h2>" + "".join(figures) + "</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>vmafkit: worst moments</title>'
        f"<style>{PAGE_CSS} figure{{margin:10px 0}} figcaption{{font-size:.86em;color:#555}}</style></head>"
        "<body><main>\n" + "\n".join(parts) + "\n</main></body></html>\n"
    )


def write_moments_page(folder: str | Path, result: PairScore) -> Path:
    return atomic_write_text(Path(folder) / DUMP_PAGE, render_moments_page(result))
