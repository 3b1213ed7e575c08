"""`vmafkit export`, `vmafkit registry validate|flip|rollback` and `vmafkit predict`."""

from __future__ import annotations

import sys

import click

from vmafkit import layout
from vmafkit import validation as V
from vmafkit.cli._common import FiniteFloatRange, run_command, split_list
from vmafkit.cli.options import (
    align_option,
    check_outputs,
    corpus_option,
    coverage_option,
    deprecated_argument,
    deprecated_option,
    device_option,
    emit_json,
    ffmpeg_option,
    geometry_options,
    json_option,
    max_frames_option,
    out_option,
    progress_option,
    registry_option,
    renamed_option,
    scoring_options,
)
from vmafkit.errors import EXIT_OK, InputError


def _print_prediction(result: dict) -> None:
    fmt = lambda v: "  -   " if v is None else f"{v:6.2f}"  # noqa: E731
    click.echo(
        f"model {result['model']} ({result['mode']}, members {result['members']}); {result['domain']['description']}"
    )
    guarantee = result["interval"]["guarantee"]
    click.echo(f"interval: {guarantee}" if guarantee else "interval: none (no calibration)")
    click.echo(f"{'clip':<28} {'frames':>6} {'score':>6} {'lower':>6} {'upper':>6} {'vmaf':>6}")
    for c in result["clips"]:
        label = " ".join(
            [c["name"], c["encoder"] or "-", c["preset"] or "-", "-" if c["cq"] is None else f"cq{c['cq']:g}"]
        )
        flag = "" if c["in_domain"] else "  OUT OF DOMAIN"
        click.echo(
            f"{label[:28]:<28} {c['n_frames']:>6} {fmt(c['score'])} {fmt(c['lower'])} {fmt(c['upper'])} "
            f"{fmt(c.get('vmaf'))}{flag}"
        )


def _print_subjective_prediction(result: dict) -> None:
    fmt = lambda v: "  -   " if v is None else f"{v:6.3f}"  # noqa: E731
    scale = result["target"]["scale"]
    bounds = "" if scale.get("low") is None else f" [{scale['low']:g}, {scale['high']:g}]"
    direction = {True: ", higher is better", False: ", higher is worse"}.get(scale.get("higher_is_better"), "")
    click.echo(
        f"model {result['model']} ({result['mode']}, members {result['members']}); {result['domain']['description']}"
    )
    click.echo(f"predicts subjective scores on the {scale['name']} scale{bounds}{direction}")
    guarantee = result["interval"]["guarantee"]
    click.echo(f"interval: {guarantee}" if guarantee else "interval: none (no calibration)")
    click.echo(f"{'clip':<36} {'rows':>5} {'score':>6} {'lower':>6} {'upper':>6}")
    for c in result["clips"]:
        flag = "" if c["in_domain"] else "  OUT OF DOMAIN"
        click.echo(f"{c['name'][:36]:<36} {c['n_rows']:>5} {fmt(c['score'])} {fmt(c['lower'])} {fmt(c['upper'])}{flag}")


def _rows_option(default_rows: str):
    """`--rows` (registry row ids); `--ids` is its old spelling (beside `--id`, the ensemble)."""

    def decorate(func):
        func = deprecated_option("--ids", "--rows", "rows")(func)
        return renamed_option(
            "--rows", "rows", default=None, metavar="IDS", help=f"Comma-separated row ids (default: {default_rows})."
        )(func)

    return decorate


@click.command("export")
@corpus_option("The corpus the verdict was computed on.")
@click.option(
    "--verdict",
    "verdict",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help=f"DIR/{layout.PROMOTE_FILE}.",
)
@out_option(
    f"MODELS folder (ONNX, sidecars, calibration, {layout.REGISTRY_FILE}).",
    type=click.Path(file_okay=False, path_type=str),
    old=("--out-dir",),
)
@click.option(
    "--id",
    "model_id",
    default=None,
    help="Ensemble id (default: export's own id for the verdict's target, a VMAF or a subjective ensemble).",
)
@device_option(default="cpu", purpose="torch device for a full-corpus refit (when train's members are gone)")
@progress_option
@run_command
def export_cmd(corpus: str, verdict: str, out: str, model_id: str | None, device: str, progress: bool) -> int:
    """Refit every seed on the full corpus, export ONNX + sidecars + calibration, register as smoke.

    Exit 3 unless VERDICT is PROMOTE for exactly this CORPUS."""
    from vmafkit import api

    summary = api.export(corpus, verdict, out, model_id=model_id, device=device, progress=progress, argv=sys.argv)
    for seed, check in summary["parity"].items():
        click.echo(
            f"seed {seed}: onnxruntime vs torch max |diff| {check['max_abs_diff']:.2e} on {check['rows']} rows "
            f"(tolerance {check['tolerance']:g})"
        )
    checks = summary.get("evidence_checks") or {}
    retrained, refit = checks.get("retrained_member"), checks.get("refit_error")
    if retrained is not None:
        click.echo(
            f"evidence: {retrained['skipped']}"
            if "skipped" in retrained
            else f"evidence: seed {retrained['seed']}'s member of fold {retrained['fold']!r}, retrained, "
            "equals the saved one bit for bit"
        )
    if refit is not None:
        click.echo(
            f"evidence: the full-corpus members put {refit['covered']:.1%} of the corpus's served rows within "
            f"the calibrated half-width {refit['half_width']:.2f} (>= {refit['coverage']:.0%}; RMSE "
            f"{refit['rmse_on_corpus']:.3f}, held out {refit['held_out_rmse']:.3f})"
        )
    click.echo(f"exported {summary['id']} ({len(summary['seeds'])} members, smoke=true) -> {summary['registry']}")
    click.echo(f"next: vmafkit registry flip --registry {summary['registry']} --verdict {verdict}")
    return EXIT_OK


@click.group("registry")
def registry_group() -> None:
    """Validate the model registry, flip it to production, or roll it back."""


@registry_group.command("validate")
@registry_option
@deprecated_argument("REGISTRY", "--registry", "registry")
@run_command
def validate_cmd(registry: str) -> int:
    """Schema + sha256 + sidecar + input-schema checks (exit 0 valid, 2 invalid)."""
    from vmafkit import api

    problems = api.registry_validate(registry)
    for problem in problems:
        click.echo(f"{registry}: {problem}", err=True)
    if problems:
        raise InputError(f"invalid registry ({len(problems)} problems)", path=registry)
    click.echo(f"{registry}: valid")
    return EXIT_OK


@registry_group.command("flip")
@registry_option
@click.option("--verdict", required=True, type=click.Path(dir_okay=False, path_type=str))
@_rows_option("every exported member row")
@click.option("--id", "ensemble", default=None, help="Only the rows of this ensemble.")
@run_command
def flip_cmd(registry: str, verdict: str, rows: str | None, ensemble: str | None) -> int:
    """smoke -> false, only with a PROMOTE verdict that pins the sidecars' corpus (exit 3 otherwise)."""
    from vmafkit import api

    entry = api.registry_flip(registry, verdict, rows=split_list(rows) or None, ensemble=ensemble)
    click.echo(f"flipped to production: {', '.join(entry.ids)}")
    return EXIT_OK


@registry_group.command("rollback")
@registry_option
@click.option("--reason", required=True, help=f"Why (recorded in {layout.REGISTRY_HISTORY_FILE}).")
@_rows_option("every non-smoke row")
@click.option("--id", "ensemble", default=None, help="Only the rows of this ensemble.")
@run_command
def rollback_cmd(registry: str, reason: str, rows: str | None, ensemble: str | None) -> int:
    """smoke -> true and record who/when/why in registry_history.jsonl."""
    from vmafkit import api

    entry = api.registry_rollback(registry, reason=reason, rows=split_list(rows) or None, ensemble=ensemble)
    if entry.action == "noop":
        click.echo("nothing to roll back: the selected rows are already smoke=true")
    else:
        click.echo(f"rolled back to smoke: {', '.join(entry.ids)} ({entry.who}, {entry.when})")
    return EXIT_OK


@click.command("predict")
@click.option(
    "--models",
    required=True,
    type=click.Path(path_type=str),
    help=f"MODELS folder (or its {layout.REGISTRY_FILE}).",
)
@click.option("--ref", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option("--dis", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option(
    "--features",
    "features",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="JSONL of per-frame canonical-6 rows instead of --ref/--dis; for a subjective model, JSONL or CSV "
    "rows of its feature columns (rows sharing a clip/id are pooled by their mean).",
)
@click.option(
    "--encoder",
    default=None,
    help="Encoder of DIS (for --features rows that name none: a row that names another is refused); optional for a robust-recipe ensemble.",
)
@click.option("--preset", default=None, help="Preset of DIS; optional for a robust-recipe ensemble.")
@click.option(
    "--cq",
    type=FiniteFloatRange(*V.CQ_RANGE_OTHER),
    default=None,
    help="Quality level DIS was encoded at; optional for a robust-recipe ensemble.",
)
@click.option(
    "--allow-out-of-domain",
    is_flag=True,
    help="Score rows outside the training domain too, marked in_domain: false and without an interval "
    "(default: refuse them, exit 2).",
)
@coverage_option("Share of frames (clips) of a new source the interval is calibrated to cover.")
@click.option("--id", "model_id", default=None, help="Ensemble id when the registry holds several.")
@json_option
@geometry_options
@scoring_options(libvmaf_choice=False)
@max_frames_option
@ffmpeg_option
@align_option
@run_command
def predict_cmd(
    models,
    ref,
    dis,
    features,
    encoder,
    preset,
    cq,
    allow_out_of_domain,
    coverage,
    model_id,
    json_to,
    geometry,
    scoring,
    max_frames,
    ffmpeg,
    align,
) -> int:
    """Per-frame and per-clip ensemble quality with a calibrated interval (the JSON holds every
    frame; the text, every clip)."""
    from vmafkit import api
    from vmafkit.decide.subjective_verdict import KIND as SUBJECTIVE_TARGET

    if (features is None) == (ref is None and dis is None) or (features is None and (ref is None or dis is None)):
        raise InputError("give either --features FILE.jsonl or both --ref and --dis")
    check_outputs(
        {"--features": features, "--ref": ref, "--dis": dis, "--models": [models, *layout.own_files(models)]},
        {"--json": json_to},
    )
    result = api.predict(
        models,
        ref,
        dis,
        features=features,
        encoder=encoder,
        preset=preset,
        cq=cq,
        coverage=coverage,
        model_id=model_id,
        allow_out_of_domain=allow_out_of_domain,
        geometry=geometry,
        scoring=scoring,
        max_frames=max_frames,
        ffmpeg=ffmpeg,
        align=align,
    )
    subjective = (result.get("target") or {}).get("kind") == SUBJECTIVE_TARGET
    for note in result["notes"]:
        click.echo(f"vmafkit: note: {note}", err=True)
    if not emit_json(result, json_to):
        if subjective:
            _print_subjective_prediction(result)
        else:
            _print_prediction(result)
    return EXIT_OK


def register(main: click.Group) -> None:
    main.add_command(export_cmd)
    main.add_command(registry_group)
    main.add_command(predict_cmd)
