"""One front door (issue 21): every flag of a command that has an API function is a keyword of that
function, so what the CLI can do, Python can. The few exceptions are named here with their reason;
the commands that have no API function yet are listed too, and the list may only shrink."""

from __future__ import annotations

import inspect

import pytest

import vmafkit.api as api
from vmafkit.cli import main

COMMAND_FUNCTIONS = {
    "score": "score",
    "corpus": "build_corpus",
    "train": "train_loso",
    "gate": "gate",
    "verdict": "write_verdict",
    "export": "export",
    "predict": "predict",
    "run": "run",
}

# flag (click parameter name) -> the API keyword that means it where the names differ
ALIASES = {"out": "out_dir", "no_bundle": "bundle"}
# flags with no keyword, and why: printing (the API returns objects whose `to_json()` is that JSON)
# and hidden spellings kept for one release
NOT_KEYWORDS = {
    "json_to": "the API returns the result; .to_json() / the dict is what --json writes",
    "csv_to": "the API returns the frames; --csv is a printing choice",
    "deprecated_quiet": "hidden alias of --no-progress (progress=False is the API's default)",
    "deprecated_out_dir": "hidden alias of --out",
}
# commands whose work still lives in the CLI module (issue 21 moves them into the API)
WITHOUT_API = {
    "bundle",
    "compare",
    "dist",
    "doctor",
    "extract",
    "extract-corpus",
    "import-corpus",
    "merge",
    "pack-corpus",
    "platform",
    "prereqs",
    "rd",
    "registry",
    "report",
    "subjective",
    "verify",
}


@pytest.mark.parametrize("command, function", sorted(COMMAND_FUNCTIONS.items()))
def test_every_flag_is_a_keyword_of_the_api_function(command, function):
    keywords = set(inspect.signature(getattr(api, function)).parameters)
    missing = []
    for param in main.commands[command].params:
        if param.name in NOT_KEYWORDS:
            continue
        if param.name not in keywords and ALIASES.get(param.name) not in keywords:
            missing.append("/".join(param.opts))
    assert not missing, f"vmafkit {command} has flags vmafkit.{function} lacks: {missing}"


def test_commands_without_an_api_function_are_the_known_ones():
    assert set(main.commands) - set(COMMAND_FUNCTIONS) == WITHOUT_API


@pytest.mark.parametrize(
    "function, kwargs, message",
    [
        ("score", {"resolution": "0x720"}, "--resolution: '0x720': width and height must be 1 to 65536"),
        ("score", {"resolution": "1280"}, "expected WIDTHxHEIGHT"),
        ("score", {"subsample": 2_000_000}, "subsample"),
        ("score", {"metrics": ["psnr", "nonsense"]}, "unknown metric 'nonsense'"),
        ("score", {"vmaf_model": "vmaf_v9"}, "unknown libvmaf model 'vmaf_v9'"),
        ("build_corpus", {"resolutions": "1080,x"}, "expected comma-separated heights"),
        ("build_corpus", {"resolutions": [1080, 1]}, "height 1 is out of range"),
    ],
)
def test_the_new_keywords_are_checked_like_their_flags(tmp_path, function, kwargs, message):
    """The same words as the command line's (one check, `validation`), before any work."""
    import vmafkit

    args = {"score": ("a.y4m", "b.y4m"), "build_corpus": (tmp_path, tmp_path / "c.jsonl")}[function]
    with pytest.raises(vmafkit.InputError, match=message):
        getattr(vmafkit, function)(*args, **kwargs)


def test_score_options_give_what_the_command_gives(tmp_path):
    """The same pair scored by `vmafkit score` with --model/--metrics/--subsample/--resolution/--scale
    and by vmafkit.score with the keywords: the same JSON (real ffmpeg + libvmaf)."""
    import json

    import vmafkit

    from ..conftest import media
    from ..factories import cli

    ref, dis = media("src01_hrc00_160x90_48f.yuv"), media("src01_hrc01_160x90_48f.yuv")
    flags = ["--metrics", "psnr", "--subsample", "4", "--resolution", "128x72", "--scale", "bicubic"]
    flags += ["--model", "vmaf_v0.6.1neg", "--max-frames", "12"]
    out = tmp_path / "score.json"
    result = cli(["score", "--ref", str(ref), "--dis", str(dis), *flags, "--json", str(out)])
    assert result.exit_code == 0, result.output
    api = vmafkit.score(
        ref,
        dis,
        metrics="psnr",
        subsample=4,
        resolution=(128, 72),
        scale="bicubic",
        vmaf_model="vmaf_v0.6.1neg",
        max_frames=12,
    )
    by_cli = json.loads(out.read_text())
    by_api = json.loads(json.dumps(api.to_json()))
    assert [f["frame_index"] for f in by_api["frames"]] == [0, 4, 8]
    assert "psnr_y" in by_api["frames"][0]
    assert by_api["frames"] == by_cli["frames"] and by_api["mean"] == by_cli["mean"]
