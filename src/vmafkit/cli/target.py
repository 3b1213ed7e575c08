"""`vmafkit target`: the cq a title needs for a VMAF target (pipeline.target)."""

from __future__ import annotations

import re

import click

from vmafkit import thresholds as T
from vmafkit.cli._common import run_command
from vmafkit.cli.options import (
    FiniteFloatRange,
    _Heights,
    check_outputs,
    emit_json,
    ffmpeg_option,
    geometry_options,
    json_option,
    progress_option,
)
from vmafkit.errors import EXIT_OK

_CQ_RANGE = re.compile(r"^\s*(\d{1,6})\s*(?:\.\.|-|:)\s*(\d{1,6})\s*$")


def _cq_range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    match = _CQ_RANGE.match(value)
    if not match:
        raise click.BadParameter(f"expected LOW..HIGH (e.g. 18..40), got {value!r}")
    return int(match.group(1)), int(match.group(2))


@click.command("target")
@click.argument("ref")
@click.option("--vmaf", type=FiniteFloatRange(0, 100), required=True, help="The VMAF target, 0 to 100.")
@click.option("--encoder", default="libx264", show_default=True, help="Encoder (as `vmafkit doctor` names it).")
@click.option("--preset", default="medium", show_default=True, help="Encoder preset.")
@click.option(
    "--pool",
    default="mean",
    show_default=True,
    help="How the frames' VMAF pool into the title's: mean, harmonic, min, or pN (p5: the 5th percentile).",
)
@click.option(
    "--models",
    default=None,
    metavar="DIR",
    help="An exported ensemble's folder: its training curves guide the search, and it predicts the answer "
    "with its interval.",
)
@click.option(
    "--samples",
    type=click.IntRange(1, None),
    default=T.TARGET_SAMPLES_DEFAULT,
    show_default=True,
    help="Sample stretches spread over the title (a title they would cover more than half of is encoded whole).",
)
@click.option(
    "--sample-seconds",
    type=FiniteFloatRange(0, T.TARGET_SAMPLE_SECONDS_MAX, min_open=True),
    default=T.TARGET_SAMPLE_SECONDS_DEFAULT,
    show_default=True,
    help="Length of each sample.",
)
@click.option("--full", is_flag=True, help="Encode the whole title at every probe instead of samples (exact, slower).")
@click.option(
    "--verify",
    is_flag=True,
    help="Encode and score the whole title at the answer; when it misses there, finish the search on the whole title.",
)
@click.option(
    "--resolutions",
    type=_Heights(),
    default=None,
    metavar="HEIGHTS",
    help="Search each ladder rung (heights, e.g. 1080,720,480; scored scaled back up to the title's size) and "
    "report the rung/cq answers on the rate-quality hull.",
)
@click.option(
    "--cq-range",
    callback=_cq_range,
    default=None,
    metavar="LOW..HIGH",
    help="Search only these cqs (default: the encoder's).",
)
@click.option(
    "--run",
    "run_dir",
    default=None,
    metavar="DIR",
    help="A run folder: the search is recorded in DIR/targets/ (its report shows it) and cached in DIR's cache.",
)
@click.option(
    "--cache",
    default=None,
    metavar="DIR",
    help="Where encodes are cached (default: --run's cache, else ~/.cache/vmafkit/target).",
)
@geometry_options
@ffmpeg_option
@progress_option
@json_option
@run_command
def target_cmd(
    ref, vmaf, encoder, preset, pool, models, samples, sample_seconds, full, verify, resolutions, cq_range,
    run_dir, cache, geometry, ffmpeg, progress, json_to,
):  # fmt: skip
    """The highest cq (fewest bits) whose encode of REF meets the VMAF target: measured on samples of
    the title (or the whole title with --full), with every probe cached. Prints the answer, its
    score and bitrate, the cqs probed and what the answer guarantees; exit 0 when a cq meets the
    target, 1 when none does."""
    from vmafkit import api

    check_outputs({"REF": ref, "--models": models}, {"--json": json_to}, {"--run": run_dir, "--cache": cache})
    result = api.target(
        ref,
        vmaf,
        encoder=encoder,
        preset=preset,
        pool=pool,
        models=models,
        samples=samples,
        sample_seconds=sample_seconds,
        full=full,
        verify=verify,
        resolutions=resolutions or (),
        cq_range=cq_range,
        geometry=geometry,
        run_dir=run_dir,
        cache=cache,
        ffmpeg=ffmpeg,
        progress=progress,
    )
    if not emit_json(result.to_json(), json_to):
        for line in summary_lines(result):
            click.echo(line)
    return EXIT_OK if result.cq is not None else 1


def summary_lines(result) -> list[str]:
    """What the command prints: the answer, per rung when a ladder was searched, and its promise."""
    lines = []
    where = "the whole title" if result.samples is None else result.samples.describe()
    lines.append(
        f"{result.title.name}: {result.encoder} {result.preset}, VMAF {result.pool} >= {result.target:g}"
        f"{f' (aiming at {result.aim:g} on the samples)' if result.aim != result.target else ''}; encoded {where}"
    )
    for rung in result.rungs:
        head = f"  {rung.label}: " if len(result.rungs) > 1 or not rung.native else "  "
        if rung.cq is None:
            lines.append(f"{head}no cq: {rung.search.reason}")
            continue
        score = rung.search.score_at(rung.cq)
        above = rung.search.score_at(rung.cq + 1)
        next_text = f"cq {rung.cq + 1} scores {above:.2f}" if above is not None else rung.search.reason
        hull = " [on the hull]" if len(result.rungs) > 1 and rung.on_hull else ""
        lines.append(f"{head}cq {rung.cq}: vmaf {score:.2f}, {rung.rates_kbps[rung.cq]:.0f} kbps ({next_text}){hull}")
        if rung.verified:
            lines.append(head + verified_line(rung.verified))
        if rung.prediction:
            p = rung.prediction
            lines.append(
                f"{head}ensemble: predicts {p['score']:.2f} [{p['lower']:.2f}, {p['upper']:.2f}] for {p['of']}"
            )
    best = result.best
    if best is not None and len(result.rungs) > 1:
        lines.append(f"fewest bits for the target: {best.label} at cq {best.cq}")
    probed = "; ".join(
        (f"{rung.label} " if len(result.rungs) > 1 else "") + "cq " + ", ".join(str(p.cq) for p in rung.search.probes)
        for rung in result.rungs
    )
    lines.append(
        f"{plural(result.probes, 'probe')} ({probed}), {plural(result.encodes, 'new encode')}, {result.wall_s:.1f} s"
    )
    lines.append(f"guarantee: {result.guarantee}")
    lines += [f"guide: {line}" for line in result.guide]
    lines += [f"note: {note}" for note in result.notes]
    return lines


def plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def verified_line(verified: dict) -> str:
    """What --verify found on the whole title, and the answer it corrected the samples' to."""
    cq, sampled = verified["cq"], verified["sampled_cq"]
    if cq == sampled:
        return (
            f"verified: the full title scores {verified['vmaf']:.2f} at {verified['rate_kbps']:.0f} kbps, "
            "meets the target"
        )
    if cq is None:
        return (
            f"verified: the full title misses the target at every cq down to the lowest (cq {sampled} on the samples)"
        )
    return (
        f"verified: the full title misses the target at cq {sampled}; cq {cq} meets it on the full title "
        f"({verified['vmaf']:.2f} at {verified['rate_kbps']:.0f} kbps): the answer"
    )


def register(main: click.Group) -> None:
    main.add_command(target_cmd)
