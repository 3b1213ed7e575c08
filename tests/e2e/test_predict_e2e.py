"""`vmafkit predict --ref --dis` through real ffmpeg + libvmaf (the canonical-6 come from libvmaf)."""

from __future__ import annotations

import json


from vmafkit.media.score import score_pair
from vmafkit.predict import predict_features

from ..conftest import media
from ..unit.decide_helpers import cli, export_models


def test_predict_ref_dis_real_libvmaf(tmp_path):
    ref, dis = media("src01_hrc00_160x90_48f.yuv"), media("src01_hrc01_160x90_48f.yuv")
    models, _, _ = export_models(tmp_path, seeds=(0, 1))
    out = tmp_path / "pred.json"
    result = cli(["predict", "--models", models, "--ref", ref, "--dis", dis, "--cq", "30", "--encoder", "libx264",
                  "--max-frames", "6", "--json", out])
    assert result.exit_code == 0, result.output
    pred = json.loads(out.read_text())
    assert pred["n_frames"] == 6 and pred["mode"] == "smoke-single-member"
    assert pred["source"]["backend"] == "ffmpeg-libvmaf"
    assert all("vmaf" in f for f in pred["frames"])  # the teacher's score is echoed per frame
    frames = score_pair(ref, dis, max_frames=6).frames
    api = predict_features(models, frames, encoder="libx264", cq=30, clip=dis.name)
    assert api["frames"] == pred["frames"] and api["clips"] == pred["clips"]
