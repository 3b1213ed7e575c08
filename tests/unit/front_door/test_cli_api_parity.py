"""One front door (issue 21): every flag of a command that has an API function is a keyword of that
function, or a field of one of its typed option objects (`geometry=RawGeometry(width=...)`), so what
the CLI can do, Python can. The few exceptions are named here with their reason; the commands that
have no API function yet are listed too, and the list may only shrink."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import vmafkit.api as api
from vmafkit.cli import main

COMMAND_FUNCTIONS = {
    "score": "score",
    "diagnose": "diagnose",
    "corpus": "build_corpus",
    "train": "train_loso",
    "gate": "gate",
    "verdict": "write_verdict",
    "export": "export",
    "predict": "predict",
    "run": "run",
    "rd": "rd",
    "rescore": "rescore",
    "merge": "merge",
    "import-corpus": "import_corpus",
    "report": "write_report",
    "registry validate": "registry_validate",
    "registry flip": "registry_flip",
    "registry rollback": "registry_rollback",
    "doctor": "doctor",
    "prereqs": "doctor",
    "platform": "platform",
    "bundle": "write_bundle",
    "verify": "verify",
    "extract": "extract",
    "compare": "compare",
    "pack-corpus": "pack_corpus",
    "extract-corpus": "extract_corpus",
    "dist": "dist",
    "subjective train": "subjective_train",
    "subjective gate": "subjective_gate",
    "target": "target",
}

# flag (click parameter name) -> the API keyword that means it where the names differ
ALIASES = {"out": "out_dir", "no_bundle": "bundle", "out_dir": "out_dir"}
# flags with no keyword, and why: printing (the API returns objects whose `to_json()` is that JSON)
# and hidden spellings kept for one release
NOT_KEYWORDS = {
    "json_to": "the API returns the result; .to_json() / the dict is what --json writes",
    "csv_to": "the API returns the frames; --csv is a printing choice",
}
# `deprecated_*`: the hidden old spellings `cli.options.deprecated_option/argument` keep for one
# release (--quiet, --out-dir, --ids, a positional REGISTRY); their new flag is checked instead
DEPRECATED_PREFIX = "deprecated_"
# commands whose work still lives in the CLI module (issue 21 moves them into the API)
WITHOUT_API: set[str] = set()


@pytest.mark.parametrize("command, function", sorted(COMMAND_FUNCTIONS.items()))
def test_every_flag_is_a_keyword_of_the_api_function(command, function):
    keywords = set(_keywords_and_option_fields(getattr(api, function)))
    missing = []
    found = main
    for word in command.split():
        found = found.commands[word]
    for param in found.params:
        if param.name in NOT_KEYWORDS or param.name.startswith(DEPRECATED_PREFIX):
            continue
        spelled = {opt.lstrip("-").replace("-", "_") for opt in param.opts}  # --rows/--ids -> ids
        if not ({param.name, ALIASES.get(param.name)} | spelled) & keywords:
            missing.append("/".join(param.opts))
    assert not missing, f"vmafkit {command} has flags vmafkit.{function} lacks: {missing}"


def _keywords_and_option_fields(function) -> dict[str, str]:
    """keyword -> where it is: the function's own keywords, and each field of a parameter whose type
    is one of the option objects (written out here, not read from vmafkit.api)."""
    import vmafkit

    option_types = {"RawGeometry", "Scoring", "Grid", "Training", "DatasetScoring"}
    parameters = inspect.signature(function).parameters
    found = {name: "keyword" for name in parameters}
    for name, parameter in parameters.items():
        if parameter.annotation in option_types:  # the annotation as written (postponed: a string)
            cls = getattr(vmafkit, parameter.annotation)
            found.update({field.name: f"{name}.{field.name}" for field in dataclasses.fields(cls)})
    return found


def test_the_option_objects_are_the_same_everywhere():
    """Each option object is one keyword name wherever it is taken, and its fields are nowhere a
    plain keyword too (that would be two spellings of one option)."""
    import vmafkit

    seen: dict[str, set[str]] = {}
    for function in set(COMMAND_FUNCTIONS.values()):
        func = getattr(api, function)
        own = set(inspect.signature(func).parameters)
        for name, where in _keywords_and_option_fields(func).items():
            if where != "keyword":
                assert name not in own, f"{function}: {name} is a keyword and {where}"
                seen.setdefault(where.split(".")[0], set()).add(function)
    assert seen == {
        "geometry": {"score", "diagnose", "predict", "target"},
        "scoring": {"score", "build_corpus", "rescore", "predict", "run"},
        "grid": {"build_corpus", "run"},
        "training": {"train_loso", "run", "subjective_train"},
        "dataset_scoring": {"subjective_train"},
    }
    assert {vmafkit.RawGeometry, vmafkit.Scoring, vmafkit.Grid, vmafkit.Training, vmafkit.DatasetScoring} <= {
        getattr(vmafkit, name) for name in vmafkit.__all__ if name[0].isupper()
    }


def test_commands_without_an_api_function_are_the_known_ones():
    covered = {command.split()[0] for command in COMMAND_FUNCTIONS}
    assert set(main.commands) - covered == WITHOUT_API
    for group in ("registry", "subjective"):
        assert {f"{group} {name}" for name in main.commands[group].commands} <= set(COMMAND_FUNCTIONS)


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        ("Scoring", {"resolution": "0x720"}, "--resolution: '0x720': width and height must be 1 to 65536"),
        ("Scoring", {"resolution": "1280"}, "expected WIDTHxHEIGHT"),
        ("Scoring", {"subsample": 2_000_000}, r"Scoring\(\): subsample must be in \[1, 1e\+06\], got 2000000"),
        ("Scoring", {"subsample": "4"}, r"Scoring\(\): subsample must be an integer, got '4'"),
        ("Scoring", {"metrics": ["psnr", "nonsense"]}, "unknown metric 'nonsense'"),
        ("Scoring", {"vmaf_model": "vmaf_v9"}, "unknown libvmaf model 'vmaf_v9'"),
        ("Scoring", {"scale": "blurry"}, "unknown scale filter 'blurry'"),
        ("Grid", {"resolutions": "1080,x"}, "expected comma-separated heights"),
        ("Grid", {"resolutions": [1080, 1]}, "height 1 is out of range"),
        ("Grid", {"cqs": "19,25"}, r"Grid\(\): cqs must be a list of integers, got '19,25'"),
        ("Grid", {"presets": []}, r"Grid\(\): presets is empty"),
        ("RawGeometry", {"width": 0}, r"RawGeometry\(\): width must be in \[1, 65536\], got 0"),
        ("RawGeometry", {"fps": float("nan")}, r"RawGeometry\(\): fps must be in \(0, 10000\], got nan"),
        ("Training", {"epochs": 0}, r"Training\(\): epochs must be in \[1, "),
        ("Training", {"lr": -1.0}, r"Training\(\): lr must be in \(0, "),
        ("DatasetScoring", {"jobs": 0}, r"DatasetScoring\(\): jobs must be in \[1, 1024\], got 0"),
        ("DatasetScoring", {"cache_dir": 3}, r"DatasetScoring\(\): cache_dir must be a string or a path or None"),
        ("DatasetScoring", {"scale": "blurry"}, "unknown scale filter 'blurry'"),
        ("DatasetScoring", {"align": "soon"}, "--align must be auto, off or a whole number of frames, got 'soon'"),
        ("DatasetScoring", {"align": 301}, "--align 301: at most 300 frames either way"),
    ],
)
def test_the_option_objects_are_checked_like_their_flags(cls, kwargs, message):
    """The same words as the command line's (one check, `validation`), when the object is made:
    before any work."""
    import vmafkit

    with pytest.raises(vmafkit.InputError, match=message):
        getattr(vmafkit, cls)(**kwargs)


def test_a_flat_keyword_is_checked_like_its_object(tmp_path):
    """`score(..., subsample=0)` (deprecated spelling) is refused as `Scoring(subsample=0)` is."""
    import vmafkit

    with pytest.warns(DeprecationWarning), pytest.raises(vmafkit.InputError, match=r"Scoring\(\): subsample"):
        vmafkit.score("a.y4m", "b.y4m", subsample=0)
    with pytest.raises(vmafkit.InputError, match=r"score\(\): scoring must be Scoring, got"):
        vmafkit.score("a.y4m", "b.y4m", scoring={"subsample": 2})


def test_score_options_give_what_the_command_gives(tmp_path):
    """The same pair scored by `vmafkit score` with --model/--metrics/--subsample/--resolution/--scale
    and by vmafkit.score with the keywords: the same JSON (real ffmpeg + libvmaf)."""
    import json

    import vmafkit

    from ...conftest import media
    from ...factories import cli

    ref, dis = media("src01_hrc00_160x90_48f.yuv"), media("src01_hrc01_160x90_48f.yuv")
    flags = ["--metrics", "psnr", "--subsample", "4", "--resolution", "128x72", "--scale", "bicubic"]
    flags += ["--model", "vmaf_v0.6.1neg", "--max-frames", "12"]
    out = tmp_path / "score.json"
    result = cli(["score", "--ref", str(ref), "--dis", str(dis), *flags, "--json", str(out)])
    assert result.exit_code == 0, result.output
    scoring = vmafkit.Scoring(
        metrics="psnr", subsample=4, resolution=(128, 72), scale="bicubic", vmaf_model="vmaf_v0.6.1neg"
    )
    api = vmafkit.score(ref, dis, scoring=scoring, max_frames=12)
    by_cli = json.loads(out.read_text())
    by_api = json.loads(json.dumps(api.to_json()))
    assert [f["frame_index"] for f in by_api["frames"]] == [0, 4, 8]
    assert "psnr_y" in by_api["frames"][0]
    assert by_api["frames"] == by_cli["frames"] and by_api["mean"] == by_cli["mean"]


def test_rd_and_registry_validate_give_what_the_commands_give(tmp_path):
    """vmafkit.rd is `vmafkit rd` (same JSON; `plots` writes and names the same files);
    vmafkit.registry_validate lists what `registry validate` prints."""
    import json

    import vmafkit

    from ...factories import cli, corpus_row

    rows = []
    for src in ("a", "b"):
        for encoder, bits in (("libx264", 1.0), ("libx265", 0.7)):
            for cq, vmaf in ((20, 95.0), (26, 90.0), (32, 84.0), (38, 76.0)):
                for frame in range(2):
                    size = int(bits * 40_000 / (cq - 10))
                    score = vmaf + (1.0 if src == "b" else 0.0)
                    rows.append(corpus_row(src, frame=frame, cq=cq, encoder=encoder, enc_bytes=size, vmaf=score))
    corpus = tmp_path / "rd.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "rd.json"
    result = cli(["rd", str(corpus), "--target", "88", "--json", str(out), "--plots", str(tmp_path / "cli_plots")])
    assert result.exit_code == 0, result.output
    analysis = vmafkit.rd(corpus, target=88, plots=tmp_path / "api_plots")
    assert json.loads(json.dumps(analysis.to_json())) == json.loads(out.read_text())
    assert sorted(p.rsplit("/", 1)[1] for p in analysis.plot_files) == sorted(
        p.name for p in (tmp_path / "cli_plots").iterdir()
    )
    assert analysis.to_json()["bd_rate"][0]["bd_rate_pct"] < 0  # libx265 spends 30 % fewer bits here
    with pytest.raises(vmafkit.InputError, match="target"):
        vmafkit.rd(corpus, target=101)

    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"schema_version": 1, "models": [{"id": "a b"}]}))
    problems = vmafkit.registry_validate(registry)
    printed = cli(["registry", "validate", "--registry", str(registry)])
    assert printed.exit_code == 2 and problems and all(p in printed.stderr for p in problems)


def test_every_api_function_is_a_public_name():
    """A function the commands call is reachable as `vmafkit.NAME` (listed in vmafkit/_public.py)."""
    import vmafkit

    for function in set(COMMAND_FUNCTIONS.values()):
        assert function in vmafkit.__all__, function
        assert getattr(vmafkit, function) is getattr(api, function)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda v: v.verify("b.tar.gz", max_bytes=0), r"verify\(\): max_bytes must be in \[1, "),
        (lambda v: v.extract("b.tar.gz", "out", max_members=0), r"extract\(\): max_members must be in \[1, "),
        (
            lambda v: v.subjective_train("o", table="t.csv", bootstrap=0),
            r"subjective_train\(\): bootstrap must be in \[1, ",
        ),
    ],
)
def test_the_new_functions_take_the_ranges_their_flags_take(call, message):
    """0 is what --max-bytes / --max-members / --bootstrap refuse; the API refused nothing and read 0 as the default."""
    import vmafkit

    with pytest.raises(vmafkit.InputError, match=message):
        call(vmafkit)
