"""Bundle: selection + staleness rules, determinism, verify, hostile tarballs, safe extraction."""

from __future__ import annotations

import json
import os
import tarfile

import pytest
from click.testing import CliRunner

from vmafkit.bundle import (
    Limits,
    UnsafeBundle,
    environment_record,
    make_bundle,
    safe_extract,
    safe_member_name,
    select_files,
    verify_bundle,
)
from vmafkit.cli import main
from vmafkit.errors import InputError
from vmafkit.host.platform import PlatformInfo

from .kit_helpers import (
    backdate,
    file_member,
    make_run_dir,
    manifest_for,
    read_members,
    rewrite_bundle,
    special_member,
    tree,
    write_tar,
)

FAKE_PLATFORM = PlatformInfo("linux-x86_64-cpu", ("libx264",), {"faked": True})

EXPECTED = {
    "corpus/per_frame_canonical6.jsonl",
    "environment.json",
    "models/fr_seed0.json",
    "models/fr_seed0.onnx",
    "models/fr_seed1.json",
    "models/fr_seed1.onnx",
    "models/fr_calibration.json",
    "models/registry.json",
    "loso/PROMOTE.json",
    "loso/loso_seed0.json",
    "loso/loso_seed1.json",
    "report.html",
}


@pytest.fixture
def run_dir(tmp_path):
    return make_run_dir(tmp_path / "out")


def bundle(out, tarball, **kw):
    kw.setdefault("platform_info", FAKE_PLATFORM)
    return make_bundle(out, tarball, **kw)


# --------------------------------------------------------------------------- making


def test_bundle_holds_exactly_the_selected_files_and_verifies(run_dir, tmp_path):
    path = bundle(run_dir, tmp_path / "results.tar.gz", extra_env={"ffmpeg_version": "9.0.2", "encoders": ["libx264"]})
    members = read_members(path)
    manifest = json.loads(members["manifest.json"])
    assert {f["path"] for f in manifest["files"]} == EXPECTED
    assert set(members) == EXPECTED | {"manifest.json"}
    assert manifest["n_files"] == len(EXPECTED)
    assert manifest["verdict"] == "PROMOTE" and manifest["verdict_file"] == "loso/PROMOTE.json"
    assert manifest["generated_at_utc"] == "2026-11-23T20:00:00Z"  # from the verdict: deterministic
    excluded = {e["path"] for e in manifest["excluded"]}
    assert {
        ".vmafkit.lock",
        "loso/.PROMOTE.json.abc123.tmp",
        "stray.tmp",
        "cache/",
        "cells/",
        "old-results.tar.gz",
    } <= excluded
    env = json.loads(members["environment.json"])
    assert env["ffmpeg_version"] == "9.0.2" and env["encoders"] == ["libx264"]
    assert env["platform"]["family"] == "linux-x86_64-cpu"
    assert env["packages"]["vmafkit"] is not None and "numpy" in env["packages"]
    report = verify_bundle(path)
    assert report.ok and report.problems == [] and report.n_files == len(EXPECTED)


def test_members_are_regular_files_with_fixed_metadata(run_dir, tmp_path):
    path = bundle(run_dir, tmp_path / "r.tar.gz")
    with tarfile.open(path, "r:gz") as tar:
        infos = tar.getmembers()
    assert infos[0].name == "manifest.json"
    assert [i.name for i in infos[1:]] == sorted(i.name for i in infos[1:])
    for info in infos:
        assert info.isreg() and info.mtime == 315532800 and info.uid == 0 and info.gid == 0 and info.uname == ""
        assert info.mode == 0o644


def test_same_inputs_give_the_same_bytes_even_after_touching_files(run_dir, tmp_path):
    first = bundle(run_dir, tmp_path / "a.tar.gz").read_bytes()
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime 0, or two runs a second apart differ
    backdate(run_dir, 50)  # mtimes change, contents do not
    second = bundle(run_dir, tmp_path / "b.tar.gz").read_bytes()
    assert first == second
    (run_dir / "report.html").write_text("<html>changed</html>\n")
    assert bundle(run_dir, tmp_path / "c.tar.gz").read_bytes() != first


def test_bundle_written_inside_out_is_not_bundled_into_itself(run_dir):
    first = bundle(run_dir, run_dir / "results.tar.gz").read_bytes()
    path = bundle(run_dir, run_dir / "results.tar.gz")  # second run sees the first tarball
    assert "results.tar.gz" not in read_members(path)
    assert path.read_bytes() == first
    assert verify_bundle(path).ok


def test_existing_environment_json_is_merged_not_bundled_twice(tmp_path):
    out = make_run_dir(tmp_path / "out", env={"libvmaf_version": "3.0.0", "host": "spoofed"})
    path = bundle(out, tmp_path / "r.tar.gz", extra_env={"ffmpeg_version": "9"})
    assert verify_bundle(path).ok
    members = read_members(path)
    assert [f["path"] for f in json.loads(members["manifest.json"])["files"]].count("environment.json") == 1
    env = json.loads(members["environment.json"])
    assert env["libvmaf_version"] == "3.0.0" and env["ffmpeg_version"] == "9"
    assert isinstance(env["host"], dict)  # the record's own keys are not overwritten


def test_symlinks_are_never_followed(run_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not ship")
    (run_dir / "link.txt").symlink_to(secret)
    (run_dir / "linkdir").symlink_to(tmp_path)
    members = read_members(bundle(run_dir, tmp_path / "r.tar.gz"))
    assert not any(name.startswith("link") for name in members)
    assert b"do not ship" not in b"".join(members.values())


def test_environment_record_lists_dependencies():
    env = environment_record({"encoders": ["x"]}, FAKE_PLATFORM)
    assert env["encoders"] == ["x"]
    assert {"numpy", "click", "jsonschema"} <= set(env["packages"])
    assert env["python"]["version"].count(".") == 2


# --------------------------------------------------------------------------- staleness


def test_refuses_promote_next_to_hold(run_dir, tmp_path):
    (run_dir / "loso" / "HOLD.json").write_text(
        (run_dir / "loso" / "PROMOTE.json").read_text().replace('"PROMOTE"', '"HOLD"')
    )
    with pytest.raises(InputError, match="more than one verdict"):
        bundle(run_dir, tmp_path / "r.tar.gz")
    assert not (tmp_path / "r.tar.gz").exists()


def test_refuses_without_a_verdict(tmp_path):
    out = make_run_dir(tmp_path / "out")
    (out / "loso" / "PROMOTE.json").unlink()
    with pytest.raises(InputError, match="no PROMOTE.json or HOLD.json"):
        bundle(out, tmp_path / "r.tar.gz")


def test_refuses_verdict_whose_name_and_content_disagree(run_dir, tmp_path):
    path = run_dir / "loso" / "PROMOTE.json"
    path.write_text(path.read_text().replace('"verdict": "PROMOTE"', '"verdict": "HOLD"'))
    with pytest.raises(InputError, match="named PROMOTE"):
        bundle(run_dir, tmp_path / "r.tar.gz")


def test_refuses_seed_report_changed_after_the_verdict_hash(run_dir, tmp_path):
    report = run_dir / "loso" / "loso_seed1.json"
    report.write_text(report.read_text().replace("0.97", "0.50"))
    with pytest.raises(InputError, match="stale: loso/loso_seed1.json changed"):
        bundle(run_dir, tmp_path / "r.tar.gz")


def test_refuses_seed_report_newer_than_verdict_when_no_hash_recorded(tmp_path):
    out = make_run_dir(tmp_path / "out", record_hashes=False)
    backdate(out, 100)
    report = out / "loso" / "loso_seed0.json"
    report.write_text(report.read_text())  # rewritten now: newer than the verdict
    with pytest.raises(InputError, match="is newer than it"):
        bundle(out, tmp_path / "r.tar.gz")


def test_unhashed_reports_older_than_verdict_are_fine(tmp_path):
    out = make_run_dir(tmp_path / "out", record_hashes=False)
    backdate(out, 100)
    verdict = out / "loso" / "PROMOTE.json"
    verdict.write_text(verdict.read_text())
    assert verify_bundle(bundle(out, tmp_path / "r.tar.gz")).ok


def test_refuses_verdict_of_another_corpus_file(run_dir, tmp_path):
    (run_dir / "corpus" / "per_frame_canonical6.jsonl").write_text('{"src": "other"}\n')
    with pytest.raises(InputError, match="not the corpus it was made from"):
        bundle(run_dir, tmp_path / "r.tar.gz")


def test_exports_next_to_hold_are_left_out(tmp_path):
    out = make_run_dir(tmp_path / "out", verdict="HOLD")
    manifest = json.loads(read_members(bundle(out, tmp_path / "r.tar.gz"))["manifest.json"])
    names = {f["path"] for f in manifest["files"]}
    assert not any(n.startswith("models/") for n in names)  # ONNX, sidecars, calibration, registry
    reasons = {e["path"]: e["reason"] for e in manifest["excluded"]}
    assert "HOLD verdict" in reasons["models/fr_seed0.onnx"] and "models/fr_seed0.json" in reasons
    assert manifest["verdict"] == "HOLD"


def test_export_of_another_verdict_is_left_out(run_dir, tmp_path):
    sidecar = run_dir / "models" / "fr_seed1.json"
    data = json.loads(sidecar.read_text())
    data["verdict"]["sha256"] = "0" * 64
    sidecar.write_text(json.dumps(data))
    calibration = run_dir / "models" / "fr_calibration.json"
    calibration.write_text(calibration.read_text().replace('"verdict_sha256": "', '"verdict_sha256": "0'))
    manifest = json.loads(read_members(bundle(run_dir, tmp_path / "r.tar.gz"))["manifest.json"])
    names = {f["path"] for f in manifest["files"]}
    assert "models/fr_seed0.onnx" in names
    assert not names & {
        "models/fr_seed1.onnx",
        "models/fr_seed1.json",
        "models/fr_calibration.json",
        "models/registry.json",
    }
    reasons = {e["path"]: e["reason"] for e in manifest["excluded"]}
    assert "another verdict" in reasons["models/fr_seed1.onnx"]


def test_export_of_another_corpus_is_left_out(run_dir, tmp_path):
    sidecar = run_dir / "models" / "fr_seed1.json"
    data = json.loads(sidecar.read_text())
    data["corpus"]["sha256"] = "0" * 64
    del data["verdict"]  # no verdict hash: the corpus fingerprint decides
    sidecar.write_text(json.dumps(data))
    names = set(read_members(bundle(run_dir, tmp_path / "r.tar.gz")))
    assert "models/fr_seed0.onnx" in names
    assert "models/fr_seed1.onnx" not in names and "models/fr_seed1.json" not in names


def test_export_without_fingerprint_older_than_verdict_is_left_out(run_dir, tmp_path):
    (run_dir / "models" / "fr_seed0.json").unlink()
    backdate(run_dir / "models", 100)
    names = set(read_members(bundle(run_dir, tmp_path / "r.tar.gz")))
    assert "models/fr_seed0.onnx" not in names
    assert "models/fr_seed1.onnx" in names  # its sidecar's fingerprint matches


def test_seed_report_not_in_verdict_seeds_is_left_out(run_dir, tmp_path):
    extra = run_dir / "loso" / "loso_seed7.json"
    extra.write_text((run_dir / "loso" / "loso_seed0.json").read_text().replace('"seed": 0', '"seed": 7'))
    selection = select_files(run_dir)
    assert "loso/loso_seed7.json" not in selection.files
    assert any(e["path"] == "loso/loso_seed7.json" for e in selection.excluded)


# --------------------------------------------------------------------------- verify


def test_verify_detects_a_lying_manifest(run_dir, tmp_path):
    good = bundle(run_dir, tmp_path / "good.tar.gz")

    def edit(m):
        m["report.html"] = b"<html>tampered</html>\n"

    report = verify_bundle(rewrite_bundle(good, tmp_path / "bad.tar.gz", edit))
    assert not report.ok and report.exit_code == 1
    assert any("sha256 mismatch: report.html" in p for p in report.problems)
    assert any("size mismatch: report.html" in p for p in report.problems)


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda m: m.pop("report.html"), "missing: report.html"),
        (lambda m: m.__setitem__("extra.txt", b"x"), "extra: extra.txt"),
    ],
)
def test_verify_requires_the_exact_file_set(run_dir, tmp_path, change, expected):
    good = bundle(run_dir, tmp_path / "good.tar.gz")
    report = verify_bundle(rewrite_bundle(good, tmp_path / "bad.tar.gz", change))
    assert not report.ok and any(expected in p for p in report.problems)


def test_verify_flags_n_files_that_lies(run_dir, tmp_path):
    good = bundle(run_dir, tmp_path / "good.tar.gz")

    def edit(m):
        manifest = json.loads(m["manifest.json"])
        manifest["n_files"] += 1
        m["manifest.json"] = json.dumps(manifest).encode()

    report = verify_bundle(rewrite_bundle(good, tmp_path / "bad.tar.gz", edit))
    assert not report.ok and any("n_files" in p for p in report.problems)


def test_verify_duplicate_member(tmp_path):
    files = {"a.txt": b"a"}
    path = write_tar(
        tmp_path / "d.tar.gz",
        [file_member("manifest.json", manifest_for(files)), file_member("a.txt", b"a"), file_member("a.txt", b"a")],
    )
    report = verify_bundle(path)
    assert not report.ok and any("more than once" in p for p in report.problems)


@pytest.mark.parametrize("content", [b"", b"not a tarball at all", b"\x1f\x8b\x08\x00garbage"])
def test_unreadable_input_is_exit_2(tmp_path, content):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(content)
    with pytest.raises(InputError):
        verify_bundle(path)
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 2 and "error" in result.output


def test_bundle_without_manifest_or_with_bad_manifest_is_exit_2(tmp_path):
    no_manifest = write_tar(tmp_path / "a.tar.gz", [file_member("x.txt", b"x")])
    with pytest.raises(InputError, match="no manifest.json"):
        verify_bundle(no_manifest)
    bad = write_tar(tmp_path / "b.tar.gz", [file_member("manifest.json", b'{"schema_version": 1}')])
    with pytest.raises(InputError, match="schema"):
        verify_bundle(bad)


def test_cli_verify_exit_codes(run_dir, tmp_path):
    runner = CliRunner()
    good = tmp_path / "good.tar.gz"
    result = runner.invoke(main, ["bundle", str(run_dir), "--out", str(good), "--env", "encoders=libx264,libx265"])
    assert result.exit_code == 0, result.output
    assert json.loads(read_members(good)["environment.json"])["encoders"] == ["libx264", "libx265"]
    assert runner.invoke(main, ["verify", str(good)]).exit_code == 0
    bad = rewrite_bundle(good, tmp_path / "bad.tar.gz", lambda m: m.__setitem__("report.html", b"x"))
    result = runner.invoke(main, ["verify", str(bad)])
    assert result.exit_code == 1 and "sha256 mismatch" in result.output
    assert runner.invoke(main, ["verify", str(tmp_path / "missing.tar.gz")]).exit_code == 2
    result = runner.invoke(main, ["verify", str(good), "--json"])
    assert json.loads(result.output)["ok"] is True


def test_cli_bundle_refusal_is_one_line_exit_2(run_dir, tmp_path):
    (run_dir / "loso" / "HOLD.json").write_text("{}")
    result = CliRunner().invoke(main, ["bundle", str(run_dir), "--out", str(tmp_path / "r.tar.gz")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "more than one verdict" in result.output


# --------------------------------------------------------------------------- hostile tarballs


HOSTILE = {
    "dotdot": [file_member("../evil.txt", b"pwned")],
    "nested-dotdot": [file_member("ok/../../evil.txt", b"pwned")],
    "absolute": [file_member("/tmp/vmafkit-evil-absolute.txt", b"pwned")],
    "symlink": [special_member("link", tarfile.SYMTYPE, "/etc/passwd")],
    "symlink-then-write": [special_member("sub", tarfile.SYMTYPE, ".."), file_member("sub/evil.txt", b"pwned")],
    "hardlink": [special_member("hard", tarfile.LNKTYPE, "/etc/passwd")],
    "chardev": [special_member("dev", tarfile.CHRTYPE)],
    "blockdev": [special_member("blk", tarfile.BLKTYPE)],
    "fifo": [special_member("fifo", tarfile.FIFOTYPE)],
    "backslash": [file_member("..\\evil.txt", b"pwned")],
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_members_are_refused_and_nothing_is_written(tmp_path, kind):
    files = {"a.txt": b"fine"}
    members = [file_member("manifest.json", manifest_for(files)), file_member("a.txt", b"fine"), *HOSTILE[kind]]
    work = tmp_path / "work"
    work.mkdir()
    tarball = write_tar(tmp_path / "hostile.tar.gz", members)
    before = tree(tmp_path)
    with pytest.raises(UnsafeBundle):
        verify_bundle(tarball)
    with pytest.raises(UnsafeBundle):
        safe_extract(tarball, work / "dest")
    assert tree(tmp_path) == before  # no dest, no temp folder, nothing beside it
    assert not os.path.exists("/tmp/vmafkit-evil-absolute.txt")
    result = CliRunner().invoke(main, ["extract", str(tarball), "--out", str(work / "dest")])
    assert result.exit_code == 2 and "refused" in result.output
    assert tree(tmp_path) == before


def test_tar_bomb_by_total_size_is_refused(tmp_path):
    big = b"\0" * (3 << 20)  # compresses to a few KiB
    tarball = write_tar(
        tmp_path / "bomb.tar.gz", [file_member("manifest.json", manifest_for({"big": big})), file_member("big", big)]
    )
    assert tarball.stat().st_size < 64 << 10
    limits = Limits(max_total_bytes=1 << 20)
    before = tree(tmp_path)
    with pytest.raises(UnsafeBundle, match="more than 1048576 bytes"):
        verify_bundle(tarball, limits=limits)
    with pytest.raises(UnsafeBundle):
        safe_extract(tarball, tmp_path / "dest", limits=limits)
    assert tree(tmp_path) == before
    assert verify_bundle(tarball).ok  # under the default limit it is a fine bundle
    result = CliRunner().invoke(main, ["verify", str(tarball), "--max-bytes", "1000"])
    assert result.exit_code == 2


def test_tar_bomb_by_member_count_is_refused(tmp_path):
    files = {f"f{i}": b"x" for i in range(50)}
    tarball = write_tar(
        tmp_path / "many.tar.gz",
        [file_member("manifest.json", manifest_for(files)), *[file_member(k, v) for k, v in files.items()]],
    )
    with pytest.raises(UnsafeBundle, match="more than 10 members"):
        safe_extract(tarball, tmp_path / "dest", limits=Limits(max_members=10))
    assert not (tmp_path / "dest").exists()
    assert verify_bundle(tarball).ok


@pytest.mark.parametrize("name", ["", "a/../b", "./../x", "a//b", "/abs", "C:/x", "a\\b", "nul\x00l"])
def test_safe_member_name_rejects(name):
    with pytest.raises(UnsafeBundle):
        safe_member_name(name)


def test_safe_member_name_normalises_plain_names():
    assert safe_member_name("./a/b.txt") == "a/b.txt"
    assert safe_member_name("dir/") == "dir"


# --------------------------------------------------------------------------- safe extraction


def test_safe_extract_roundtrip(run_dir, tmp_path):
    path = bundle(run_dir, tmp_path / "r.tar.gz")
    dest = safe_extract(path, tmp_path / "x" / "dest")
    assert tree(dest) >= {"manifest.json", "loso", "loso/PROMOTE.json", "report.html"}
    assert (dest / "report.html").read_bytes() == (run_dir / "report.html").read_bytes()
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["dest"]  # no temp folder left
    assert dest.stat().st_mode & 0o777 == 0o755 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_safe_extract_refuses_a_tampered_bundle_and_writes_nothing(run_dir, tmp_path):
    good = bundle(run_dir, tmp_path / "good.tar.gz")
    bad = rewrite_bundle(good, tmp_path / "bad.tar.gz", lambda m: m.__setitem__("report.html", b"x"))
    with pytest.raises(InputError, match="does not verify"):
        safe_extract(bad, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dest")]


def test_safe_extract_never_clobbers_a_non_empty_dest(run_dir, tmp_path):
    path = bundle(run_dir, tmp_path / "r.tar.gz")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="not an empty folder"):
        safe_extract(path, dest)
    assert tree(dest) == {"mine.txt"}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (safe_extract(path, empty) / "manifest.json").is_file()


def test_cli_bundle_refuses_while_a_run_holds_out(run_dir, tmp_path):
    from vmafkit.io import exclusive_lock

    with exclusive_lock(run_dir):
        result = CliRunner().invoke(main, ["bundle", str(run_dir), "--out", str(tmp_path / "r.tar.gz")])
    assert result.exit_code == 2 and "in use" in result.output
    assert not (tmp_path / "r.tar.gz").exists()


def test_refuses_any_recorded_input_changed_after_the_verdict(run_dir, tmp_path):
    predictions = run_dir / "loso" / "loso_seed0.predictions.jsonl"
    predictions.write_text('{"y": 1}\n')
    verdict_path = run_dir / "loso" / "PROMOTE.json"
    verdict = json.loads(verdict_path.read_text())
    import hashlib

    verdict["run_provenance"]["inputs"].append(
        {
            "path": str(predictions),
            "exists": True,
            "kind": "file",
            "sha256": hashlib.sha256(predictions.read_bytes()).hexdigest(),
        }
    )
    verdict_path.write_text(json.dumps(verdict))
    for name in ("fr_seed0.json", "fr_seed1.json"):  # the sidecars name the verdict by its hash
        sidecar = run_dir / "models" / name
        data = json.loads(sidecar.read_text())
        data["verdict"]["sha256"] = hashlib.sha256(verdict_path.read_bytes()).hexdigest()
        sidecar.write_text(json.dumps(data))
    assert verify_bundle(bundle(run_dir, tmp_path / "ok.tar.gz")).ok
    predictions.write_text('{"y": 2}\n')
    with pytest.raises(InputError, match="loso_seed0.predictions.jsonl changed"):
        bundle(run_dir, tmp_path / "r.tar.gz")


def test_sigkill_while_bundling_keeps_the_old_bundle(run_dir, tmp_path):
    """A real SIGKILL of a real child in the middle of writing: the previous bundle is intact,
    the half-written temp file is hidden, and the next bundle run ignores it."""
    import signal
    import subprocess
    import sys
    import time

    target = run_dir / "results.tar.gz"
    bundle(run_dir, target)
    old = target.read_bytes()
    (run_dir / "report.html").write_text("<html>new report</html>\n")
    marker = tmp_path / "writing"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import time, pathlib
import vmafkit.bundle.pack as b
from vmafkit.host.platform import PlatformInfo
real = b._HashingReader.read
def slow(self, size=-1):
    pathlib.Path({str(marker)!r}).write_text("x")
    time.sleep(60)
    return real(self, size)
b._HashingReader.read = slow
b.make_bundle({str(run_dir)!r}, {str(target)!r}, platform_info=PlatformInfo("unknown", ("libx264",), {{}}))
""",
        ]
    )
    try:
        for _ in range(600):
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), "the child never started writing"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == old and verify_bundle(target).ok
    leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp") and "results.tar.gz" in p.name]
    assert leftovers and all(name.startswith(".") for name in leftovers)
    fresh = bundle(run_dir, target)
    assert verify_bundle(fresh).ok and read_members(fresh)["report.html"] == b"<html>new report</html>\n"
    assert not any(".tmp" in name for name in read_members(fresh))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "b.txt", "..", ".", "", "/", "\\", "C:", "x\x00", "./", "~"]), min_size=1, max_size=6
    ).map("/".join)
    | st.text(max_size=30)
)
def test_safe_member_name_never_escapes(name):
    try:
        cleaned = safe_member_name(name)
    except UnsafeBundle:
        return
    parts = cleaned.split("/")
    assert not cleaned.startswith("/") and "\\" not in cleaned and "\x00" not in cleaned
    assert all(part not in ("", ".", "..") for part in parts)
    import posixpath

    assert not posixpath.normpath("/dest/" + cleaned).startswith("/dest/..")
    assert posixpath.normpath("/dest/" + cleaned).startswith("/dest/")


@pytest.mark.parametrize("record_hashes", [True, False])
def test_an_extracted_bundle_bundles_again_to_the_same_files(tmp_path, record_hashes):
    out = make_run_dir(tmp_path / "out", record_hashes=record_hashes)
    backdate(out, 100)
    verdict = out / "loso" / "PROMOTE.json"
    verdict.write_text(verdict.read_text())  # the verdict is the newest file, as after a real run
    first = bundle(out, tmp_path / "a.tar.gz")
    dest = safe_extract(first, tmp_path / "dest")
    again = bundle(dest, tmp_path / "b.tar.gz")
    files_a = json.loads(read_members(first)["manifest.json"])["files"]
    files_b = json.loads(read_members(again)["manifest.json"])["files"]
    assert [f for f in files_a if f["path"] != "environment.json"] == [
        f for f in files_b if f["path"] != "environment.json"
    ]
