"""Cross-resolution scoring, raw geometry and resolution ladders, without running ffmpeg.

The oracles are written out here: the ffmpeg filter chains and argv libvmaf's documented procedure
calls for, ladder sizes worked out by hand, and the cell identity of a corpus without a ladder
(hashed here from the dict spelled out below, so a change to it, which would throw away every
existing cache, fails)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.factories import synthetic_rows, write_corpus
from vmafkit.cli import main
from vmafkit.corpus import build
from vmafkit.corpus.kept_encodes import KeptEncode
from vmafkit.corpus.merge import merge_shards
from vmafkit.corpus.schema import CANONICAL6, SCHEMA_VERSION, read_rows, rows_to_corpus, rung_label, validate_row
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.score import pair_geometry
from vmafkit.media.sources import Source, describe_source
from vmafkit.train.domain import describe, row_problems

FF = ffm.Ffmpeg(path="/opt/ffmpeg", reason="test", version="n9.0.2", has_libvmaf=True, libvmaf_version="86da14d")


def _source(width: int, height: int, *, name: str = "clip", pix_fmt: str = "yuv420p", kind: str = "container"):
    return Source(
        path=Path(f"/media/{name}.mp4"),
        name=name,
        kind=kind,
        width=width,
        height=height,
        pix_fmt=pix_fmt,
        fps=25.0,
        bit_depth=8,
        frames=None,
        sha256="ab" * 32,
        size=1000,
        group=name,
    )


# ----------------------------------------------------------------------------- argv


def test_score_argv_scales_the_distorted_after_its_crop_and_before_the_format():
    dis = ffm.InputSpec(Path("/d/dis.mp4"), False, 384, 288, "yuv420p", 25.0)
    ref = ffm.InputSpec(Path("/d/ref.mp4"), False, 720, 480, "yuv420p", 25.0)
    job = ffm.ScoreJob(dis, ref, "yuv420p", max_frames=3, dis_scale=ffm.scale_filter(384, 288, 720, 480, "bicubic"))
    argv = ffm.score_argv(FF, job, Path("/tmp/v/log.json"))
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph == (
        "[0:v:0]trim=end_frame=3,scale=720:480:flags=bicubic,format=yuv420p,settb=1/1000,setpts=N[dis];"
        "[1:v:0]trim=end_frame=3,format=yuv420p,settb=1/1000,setpts=N[ref];"
        "[dis][ref]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path=/tmp/v/log.json:n_threads=1:shortest=1"
    )


def test_score_argv_scales_both_sides_to_a_display_resolution():
    dis = ffm.InputSpec(Path("/d/dis.mp4"), False, 384, 288, "yuv420p", 25.0)
    ref = ffm.InputSpec(Path("/d/ref.mpg"), False, 720, 405, "yuv420p", 25.0)
    job = ffm.ScoreJob(
        dis,
        ref,
        "yuv420p",
        ref_crop=["crop=720:404:0:0"],
        ref_scale=["scale=1280:720:flags=lanczos"],
        dis_scale=["scale=1280:720:flags=lanczos"],
    )
    argv = ffm.score_argv(FF, job, Path("/tmp/v/log.json"))
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.split(";")[:2] == [
        "[0:v:0]scale=1280:720:flags=lanczos,format=yuv420p,settb=1/1000,setpts=N[dis]",
        "[1:v:0]crop=720:404:0:0,scale=1280:720:flags=lanczos,format=yuv420p,settb=1/1000,setpts=N[ref]",
    ]


def test_encode_argv_crops_then_scales_to_the_rung_then_the_encoders_own_filters():
    source = ffm.InputSpec(Path("/m/city.mpg"), False, 720, 405, "yuv420p", 25.0)
    argv = ffm.encode_argv(
        FF,
        source,
        Path("/c/e.mkv"),
        encoder="h264_vaapi",
        codec_args=["-qp", "30"],
        encoder_filters=["format=nv12", "hwupload"],
        crop=["crop=720:404:0:0"],
        scale=["scale=426:240:flags=bicubic"],
    )
    assert argv[argv.index("-vf") + 1] == "crop=720:404:0:0,scale=426:240:flags=bicubic,format=nv12,hwupload"


def test_the_vmaf_cli_backend_decodes_with_the_same_scale_step():
    spec = ffm.InputSpec(Path("/d/dis.mp4"), False, 384, 288, "yuv420p", 25.0)
    job = ffm.ScoreJob(spec, spec, "yuv420p", dis_scale=["scale=720:480:flags=spline"])
    argv = ffm.decode_to_y4m_pipe_argv(FF, job, Path("/t/dis.y4m"), side="dis")
    assert argv[argv.index("-vf") + 1] == "scale=720:480:flags=spline,format=yuv420p"


def test_scale_filter_is_nothing_at_the_same_size_and_refuses_an_unknown_algorithm():
    assert ffm.scale_filter(720, 480, 720, 480, "bicubic") == []
    assert ffm.scale_filter(86, 48, 160, 90, "lanczos") == ["scale=160:90:flags=lanczos"]
    with pytest.raises(InputError, match="unknown scale filter 'bicubik'"):
        ffm.scale_filter(1, 1, 2, 2, "bicubik")
    assert ffm.scored_size(720, 405, ["crop=720:404:0:0", "scale=1280:720:flags=bicubic"]) == (1280, 720)
    assert ffm.scored_size(720, 405, ["crop=720:404:0:0"]) == (720, 404)


# ----------------------------------------------------------------------------- pair geometry


def test_a_same_size_pair_records_nothing_new():
    geometry = pair_geometry(_source(720, 480), _source(720, 480), scale="lanczos")
    assert (geometry.size, geometry.ref_scale, geometry.dis_scale, geometry.to_json()) == ((720, 480), [], [], {})


def test_an_odd_even_pair_is_scored_cropped_with_a_note():
    geometry = pair_geometry(_source(720, 405), _source(720, 404))
    assert (geometry.size, geometry.ref_scale, geometry.dis_scale) == ((720, 404), [], [])
    assert geometry.to_json() == {
        "notes": [
            "reference 720x405 cropped top-left to 720x404 to match the other side, as the corpus scores an "
            "odd-size source against its encode"
        ]
    }


def test_another_size_is_refused_without_scale_and_upscaled_with_it():
    with pytest.raises(InputError) as info:
        pair_geometry(_source(720, 480), _source(384, 288), where="dis_384x288.mp4")
    assert str(info.value) == (
        "dis_384x288.mp4: size 384x288 differs from the reference's 720x480; pass --scale bicubic to upscale it "
        "to the reference's size (libvmaf's documented procedure) or --resolution WxH to score both at one size"
    )
    geometry = pair_geometry(_source(720, 480), _source(384, 288), scale="lanczos")
    assert (geometry.size, geometry.ref_scale, geometry.dis_scale) == ((720, 480), [], ["scale=720:480:flags=lanczos"])
    assert geometry.to_json() == {
        "scale_filter": "lanczos",
        "ref_width": 720,
        "ref_height": 480,
        "dis_width": 384,
        "dis_height": 288,
    }


def test_a_resolution_scales_both_sides_with_bicubic_by_default():
    geometry = pair_geometry(_source(720, 405), _source(384, 288), resolution=(1280, 720))
    assert geometry.size == (1280, 720)
    assert geometry.ref_scale == geometry.dis_scale == ["scale=1280:720:flags=bicubic"]
    with pytest.raises(InputError, match="--resolution 1281x720: width and height must be even"):
        pair_geometry(_source(720, 480), _source(720, 480), resolution=(1281, 720))
    with pytest.raises(InputError, match="16x16 as scored"):
        pair_geometry(_source(720, 480), _source(720, 480), resolution=(16, 16))


# ----------------------------------------------------------------------------- raw geometry


def test_geometry_flags_read_any_name_but_a_container_as_raw(tmp_path):
    frame = 481 * 321 * 3
    for name in ("clip.yuv444p", "clip.bin", "clip"):
        path = tmp_path / name
        path.write_bytes(b"\0" * frame * 2)
        source = describe_source(path, width=481, height=321, pix_fmt="yuv444p")
        assert (source.kind, source.frames, source.pix_fmt, source.crop) == ("raw", 2, "yuv444p", []), name
    named = tmp_path / "clip_481x321.yuv444p"  # a pixel format as the suffix is raw even without flags
    named.write_bytes(b"\0" * frame)
    assert describe_source(named).kind == "raw"
    not_video = tmp_path / "clip.mp4"  # a known container keeps its header: the flags are the raw side's
    not_video.write_text("hello")
    with pytest.raises(InputError, match=r"clip\.mp4: ffmpeg cannot decode this file \(not a video it knows\)$"):
        describe_source(not_video, width=481, height=321)


def test_an_unknown_name_that_ffmpeg_cannot_read_hints_at_the_raw_flags(tmp_path):
    path = tmp_path / "clip.dat"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InputError, match=r"not a video it knows; raw video\? pass --width/--height/--pix-fmt\)$"):
        describe_source(path)


def test_a_raw_size_that_fits_another_pixel_format_names_it(tmp_path):
    path = tmp_path / "clip.raw"
    yuv444p_frame = 481 * 321 * 3  # 463203
    yuv420p_frame = 481 * 321 + 2 * 241 * 161  # 232003: chroma planes round up on odd sides
    path.write_bytes(b"\0" * yuv444p_frame * 2)
    with pytest.raises(InputError) as info:
        describe_source(path, width=481, height=321)
    assert str(info.value) == (
        f"{path}: size 926406 bytes is 2 frames of yuv444p at 481x321 (or 1 frame of yuv444p10le, 6 frames of gray) "
        f"but not a whole number of yuv420p frames ({yuv420p_frame} bytes each): pass --pix-fmt yuv444p?"
    )
    path.write_bytes(b"\0" * (yuv420p_frame * 2 + 1))  # fits nothing: the old message
    with pytest.raises(InputError, match="is not a whole number of 481x321 yuv420p frames .* truncated file"):
        describe_source(path, width=481, height=321)


# ----------------------------------------------------------------------------- ladders


@pytest.mark.parametrize(
    "size, height, rung",
    [
        ((1920, 1080), 1080, None),
        ((1920, 1080), 1440, None),
        ((1920, 1080), 720, (1280, 720)),
        ((1920, 1080), 480, (854, 480)),  # 853.3 -> nearest even
        ((1920, 1080), 481, (854, 480)),  # odd height -> even
        ((720, 405), 404, None),  # the source is encoded at its even size 720x404 anyway
        ((720, 405), 240, (426, 240)),  # aspect of the source's own 720x405
        ((160, 90), 48, (86, 48)),  # 85.3 -> 86
    ],
)
def test_rung_sizes_keep_the_aspect_in_even_sizes(size, height, rung):
    assert build.rung_size(_source(*size), height) == rung


def test_a_ladder_plans_each_rung_once_per_cell():
    src720 = _source(1280, 720, name="a")
    cells = build.plan_cells([src720], ["libx264"], ["medium"], [30], resolutions=[1080, 720, 480])
    assert [(c.cq, c.rung, c.encoded_size, c.label) for c in cells] == [
        (30, None, (1280, 720), "a libx264 medium cq30"),
        (30, (854, 480), (854, 480), "a libx264 medium cq30 854x480"),
    ]
    only_low = build.plan_cells([src720], ["libx264"], ["medium"], [30], resolutions=[360])
    assert [c.rung for c in only_low] == [(640, 360)]  # the ladder is the rungs asked for


def _ctx(tmp_path, **kwargs):
    return build.CellContext(ff=FF, cache_dir=tmp_path, max_frames=3, threads=1, **kwargs)


def test_a_cell_without_a_ladder_keeps_its_cache_key(tmp_path):
    source = _source(720, 405, name="city")
    cell = build.Cell(source, "libx264", "medium", 30)
    identity = {
        "schema_version": SCHEMA_VERSION,
        "src_sha256": "ab" * 32,
        "encoder": "libx264",
        "preset": "medium",
        "cq": 30,
        "codec_args": ["-crf", "30", "-preset", "medium"],
        "filters": [],
        "ffmpeg_version": "n9.0.2",
        "libvmaf_version": "86da14d",
        "backend": "ffmpeg-libvmaf",
        "max_frames": 3,
        "encoder_threads": 1,
        "group": "city",
        "geometry": [720, 405, "yuv420p", 25.0, "container"],
    }
    expected = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]
    assert build.cell_key(cell, _ctx(tmp_path)) == expected
    # a scale filter or a resolution that resizes nothing changes nothing
    assert build.cell_key(cell, _ctx(tmp_path, scale_filter="lanczos", resolution=(720, 404))) == expected
    rung = build.Cell(source, "libx264", "medium", 30, (426, 240))
    keys = {
        build.cell_key(rung, _ctx(tmp_path)),
        build.cell_key(rung, _ctx(tmp_path, scale_filter="lanczos")),
        build.cell_key(cell, _ctx(tmp_path, resolution=(1280, 720))),
        expected,
    }
    assert len(keys) == 4
    assert build.cell_path(rung, _ctx(tmp_path)).name.startswith("city__libx264__medium__cq30__426x240__")


def test_rows_of_a_rung_record_the_encoded_size_and_how_it_was_scored(tmp_path):
    source = _source(720, 405, name="city")
    scored = [{"frame_index": 0, "vmaf": 50.0, **{k: 0.5 for k in CANONICAL6}}]
    kept = KeptEncode(
        key="k" * 32,
        path=tmp_path / "e.mkv",
        sha256="0" * 64,
        enc_bytes=10,
        frames=1,
        enc_time_ms=1,
        encoder_version="x264",
    )
    (native,) = build._rows(build.Cell(source, "libx264", "medium", 30), _ctx(tmp_path), scored, kept)
    assert (native["width"], native["height"]) == (720, 404) and native["encode_key"] == "k" * 32
    assert not {"scored_width", "scored_height", "scale_filter"} & set(native)
    (rung,) = build._rows(build.Cell(source, "libx264", "medium", 30, (426, 240)), _ctx(tmp_path), scored, kept)
    assert {k: rung[k] for k in ("width", "height", "scored_width", "scored_height", "scale_filter")} == {
        "width": 426,
        "height": 240,
        "scored_width": 720,
        "scored_height": 404,
        "scale_filter": "bicubic",
    }
    geometry = build.cell_geometry(build.Cell(source, "libx264", "medium", 30, (426, 240)), _ctx(tmp_path))
    assert geometry.encode_scale == ["scale=426:240:flags=bicubic"]
    assert (geometry.ref_scale, geometry.dis_scale) == ([], ["scale=720:404:flags=bicubic"])


# ----------------------------------------------------------------------------- corpus rows


def _ladder_rows() -> list[dict]:
    """Two sources at 320x180, each also at a 172x96 rung scored back at 320x180 (same cq, same frames)."""
    rows = synthetic_rows(sources=("srcA", "srcB"), encoders=("libx264",), cqs=(30,), frames=2)
    rung = {"width": 172, "height": 96, "scored_width": 320, "scored_height": 180, "scale_filter": "bicubic"}
    return rows + [{**r, **rung, "vmaf": r["vmaf"] / 2} for r in rows]


def test_rungs_are_distinct_rows_in_a_corpus_and_a_merge(tmp_path):
    rows = _ladder_rows()
    path = write_corpus(tmp_path / "c.jsonl", rows)
    assert len(read_rows(path)) == len(rows)  # same cq and frame, another size: not duplicates
    corpus = rows_to_corpus(rows, path)
    assert corpus.meta["rungs"] == ["native", "96p"]
    half = len(rows) // 2
    a, b = write_corpus(tmp_path / "a.jsonl", rows[half:]), write_corpus(tmp_path / "b.jsonl", rows[:half])
    summary = merge_shards([a, b, a], tmp_path / "m.jsonl")
    assert (summary.rows_out, summary.duplicates) == (len(rows), half)


def test_rung_labels_and_row_checks():
    assert rung_label({"width": 720, "height": 404}) == "native"
    assert rung_label({"width": 720, "height": 404, "scored_width": 720, "scored_height": 404}) == "native"
    assert rung_label({"width": 426, "height": 240, "scored_width": 720, "scored_height": 404}) == "240p"
    assert rung_label({"vmaf": 1.0}) is None
    row = _ladder_rows()[-1]
    validate_row(dict(row), "c.jsonl:9")
    with pytest.raises(InputError, match=r"c\.jsonl:9: scored_width must be a positive integer"):
        validate_row({**row, "scored_width": 0}, "c.jsonl:9")
    with pytest.raises(InputError, match=r"c\.jsonl:9: scale_filter must be a non-empty string"):
        validate_row({**row, "scale_filter": ""}, "c.jsonl:9")


# ----------------------------------------------------------------------------- domain


def _domain(rungs):
    domain = {
        "encoders": {"libx264": {"presets": ["medium"], "cq": [20.0, 40.0]}},
        "features": {name: [0.0, 100.0] for name in CANONICAL6},
        "feature_margin": 0.05,
        "frame_sizes": [],
        "pix_fmts": ["yuv420p"],
        "bit_depths": [8],
        "label_free": True,
    }
    if rungs is not None:
        domain["rungs"] = rungs
    return domain


def test_an_untrained_rung_is_outside_the_domain():
    feats = np.full((3, 6), 0.5)
    labels = (["libx264"] * 3, ["medium"] * 3, np.array([30.0, 30.0, 30.0]))
    rungs = ["native", "240p", None]
    assert row_problems(_domain(["native", "480p"]), feats, *labels, rungs=rungs) == [
        None,
        "rung 240p (its encode scaled up to be scored) was not trained (trained rungs: native, 480p)",
        None,  # a row that gives no size is not checked
    ]
    assert row_problems(_domain(["480p"]), feats, *labels, rungs=rungs)[0] == (
        "rung native (scored at its encoded size) was not trained (trained rungs: 480p)"
    )
    assert row_problems(_domain(None), feats, *labels, rungs=rungs) == [None] * 3  # a sidecar from before rungs
    assert describe(_domain(["native", "480p"])).endswith(
        "cq 20-40); rungs native, 480p; labels optional; libvmaf model vmaf_v0.6.1"
    )
    assert "rungs" not in describe(_domain(["native"]))


# ----------------------------------------------------------------------------- CLI


GEOMETRY_FLAGS = {
    "--scale": {"score", "corpus", "predict", "run"},  # top-level commands; `subjective train` too (test_cli_grammar)
    "--resolution": {"score", "corpus", "predict"},
}


@pytest.mark.parametrize("flag", sorted(GEOMETRY_FLAGS))
def test_geometry_flags_are_one_definition_in_their_commands(flag):
    found = {
        name: next(p for p in command.params if flag in getattr(p, "opts", []))
        for name, command in main.commands.items()
        if any(flag in getattr(p, "opts", []) for p in command.params)
    }
    assert set(found) == GEOMETRY_FLAGS[flag]
    infos = [option.to_info_dict() for option in found.values()]
    assert all(info == infos[0] for info in infos)


def test_resolutions_is_in_corpus_run_and_target_only():
    having = {n for n, c in main.commands.items() if any("--resolutions" in getattr(p, "opts", []) for p in c.params)}
    assert having == {"corpus", "run", "target"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--resolution", "1280"], "expected WIDTHxHEIGHT such as 1920x1080, got '1280'"),
        (["--resolution", "0x720"], "'0x720': width and height must be 1 to 65536"),
        (["--scale", "bicubik"], "'bicubik' is not one of"),
    ],
)
def test_bad_geometry_flags_are_usage_errors(args, message):
    result = CliRunner().invoke(main, ["score", "--ref", "a.mp4", "--dis", "b.mp4", *args])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize(
    "value, message",
    [("1080,x", "expected comma-separated heights such as 1080,720,480, got '1080,x'"), ("1080,1", "height 1 is")],
)
def test_bad_ladders_are_usage_errors(value, message):
    result = CliRunner().invoke(main, ["corpus", "--ref-dir", "r", "--out", "c.jsonl", "--resolutions", value])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_run_passes_the_ladder_to_the_corpus_step(monkeypatch, tmp_path):
    import vmafkit.api as api

    seen = {}

    def fake_run_pipeline(opts, log):  # FAKE: the whole pipeline; only what `run` hands it is checked
        seen["opts"] = opts
        raise InputError("stop here")

    monkeypatch.setattr(api, "run_pipeline", fake_run_pipeline)
    args = ["run", "--demo", "--out", str(tmp_path / "o"), "--resolutions", "720p,480", "--scale", "lanczos"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "stop here" in result.stderr
    assert (seen["opts"].grid.resolutions, seen["opts"].scoring.scale) == ((720, 480), "lanczos")


@pytest.fixture
def native_models(pristine_models):
    """A real exported ensemble trained on rows scored at their encoded size only (no ladder)."""
    return pristine_models


def test_predict_refuses_a_rung_the_ensemble_never_saw(native_models):
    from vmafkit.serve.predict import load_ensemble, predict_features

    models, _, corpus = native_models
    ensemble = load_ensemble(models)
    assert ensemble.domain["rungs"] == ["native"]
    rows = [{k: r[k] for k in (*CANONICAL6, "frame_index", "cq", "encoder", "preset")} for r in read_rows(corpus)[:2]]
    upscaled = {"width": 86, "height": 48, "scored_width": 160, "scored_height": 90}
    native = predict_features(ensemble, [{**r, "width": 160, "height": 90} for r in rows])
    assert all(f["in_domain"] for f in native["frames"])
    with pytest.raises(InputError, match=r"row 1: outside the training domain: rung 48p \(its encode scaled up"):
        predict_features(ensemble, [{**r, **upscaled} for r in rows])
    allowed = predict_features(ensemble, [{**r, **upscaled} for r in rows], allow_out_of_domain=True)
    assert [f["in_domain"] for f in allowed["frames"]] == [False, False]
    assert "trained rungs: native" in allowed["frames"][0]["out_of_domain"]
    with pytest.raises(InputError, match=r"row 1: height must be a positive integer, got 48.5"):
        predict_features(ensemble, [{**rows[0], **upscaled, "height": 48.5}])


def test_ladder_rungs_are_separate_clips_in_the_corpus_and_the_prediction_file(tmp_path):
    """Two rungs of one (src, encoder, preset, cq): per-clip statistics must not average them."""
    import numpy as np

    from tests.factories import corpus_row
    from vmafkit.corpus.schema import rows_to_corpus
    from vmafkit.train.predictions import read_predictions, write_predictions

    native = [corpus_row("a", frame=f, cq=30, width=64, height=48) for f in range(2)]
    rung = [
        corpus_row("a", frame=f, cq=30, width=32, height=24, scored_width=64, scored_height=48, vmaf=60.0)
        for f in range(2)
    ]
    corpus = rows_to_corpus(native + rung, tmp_path / "c.jsonl")
    assert corpus.rung.tolist() == ["native", "native", "24p", "24p"]
    ids = corpus.cell_ids()
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]

    columns = {
        "src": corpus.src,
        "group": corpus.group,
        "encoder": corpus.encoder,
        "preset": corpus.preset,
        "cq": corpus.cq,
        "frame_index": corpus.frame_index,
        "vmaf": corpus.vmaf,
        "fold": corpus.group,
        "pred": corpus.vmaf.astype(np.float32),
        "pred_unlabelled": corpus.vmaf.astype(np.float32),
    }
    path = tmp_path / "loso_seed0.predictions.jsonl"
    write_predictions(path, 0, **columns, rung=corpus.rung)
    assert read_predictions(path)["rung"].tolist() == ["native", "native", "24p", "24p"]
    write_predictions(path, 0, **columns)  # one rung: no key, read as native
    assert '"rung"' not in path.read_text()
    assert read_predictions(path)["rung"].tolist() == ["native"] * 4
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"row": 0,', '"row": 0, "rung": "24p",')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="some rows have a rung and some do not"):
        read_predictions(path)
