"""data_prep/flickr8k.py against tiny zips laid out like the real Flickr8k release.

The real `Flickr8k_Dataset.zip` holds `Flicker8k_Dataset/*.jpg` plus macOS `__MACOSX/` junk;
`Flickr8k_text.zip` holds the text files at its root. The fakes below copy that layout,
including the token-file key with a stray `.jpg.1` whose image does not exist.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from t2ilib.data.flickr8k import find_dataset_files, read_captions

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "data_prep" / "flickr8k.py"
IMAGE_NAMES = ["1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg", "1002674143_1b742ab4b8.jpg"]
BROKEN_KEY = "2258277193_586949ec62.jpg.1"


def load_script():
    if "data_prep_flickr8k" in sys.modules:
        return sys.modules["data_prep_flickr8k"]
    spec = importlib.util.spec_from_file_location("data_prep_flickr8k", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def make_fake_release(folder: Path) -> Path:
    """Write Flickr8k_text.zip and Flickr8k_Dataset.zip (3 images) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}#{k}\tCaption {k} of image {i} .\n" for i, name in enumerate(IMAGE_NAMES) for k in range(5)]
    lines += [f"{BROKEN_KEY}#{k}\tA caption whose image does not exist .\n" for k in range(5)]
    with zipfile.ZipFile(folder / "Flickr8k_text.zip", "w") as archive:
        archive.writestr("Flickr8k.token.txt", "".join(lines))
        archive.writestr("Flickr_8k.trainImages.txt", IMAGE_NAMES[0] + "\n")
        archive.writestr("Flickr_8k.devImages.txt", IMAGE_NAMES[1] + "\n")
        archive.writestr("Flickr_8k.testImages.txt", IMAGE_NAMES[2] + "\n")
        archive.writestr("__MACOSX/._Flickr8k.token.txt", b"\x00junk")
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(folder / "Flickr8k_Dataset.zip", "w") as archive:
        for name in IMAGE_NAMES:
            image_path = folder / name
            Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(image_path)
            archive.write(image_path, f"Flicker8k_Dataset/{name}")
            archive.writestr(f"__MACOSX/Flicker8k_Dataset/._{name}", b"\x00junk")
            image_path.unlink()
    return folder


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_checksums(release: Path, folder: Path, zips: bool = True) -> Path:
    """SHA256SUMS (the text files inside the text zip) and MD5SUMS (the zips) of a fake release,
    laid out like data_prep/SHA256SUMS and data_prep/MD5SUMS."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(release / "Flickr8k_text.zip") as archive:
        texts = {name: sha256(archive.read(name)) for name in archive.namelist() if not name.startswith("__MACOSX")}
    (folder / "SHA256SUMS").write_text("".join(f"{value}  {name}\n" for name, value in sorted(texts.items())))
    md5 = "".join(f"{hashlib.md5((release / name).read_bytes()).hexdigest()}  {name}\n"
                  for name in ("Flickr8k_text.zip", "Flickr8k_Dataset.zip"))
    (folder / "MD5SUMS").write_text(md5 if zips else "")
    return folder


def run_script(*args, checksums: Path | None = None, local_dir: Path | None = None) -> subprocess.CompletedProcess:
    extra = (["--checksums", str(checksums)] if checksums else []) + (["--local-dir", str(local_dir)] if local_dir else [])
    return subprocess.run([sys.executable, str(SCRIPT), *args, *extra], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture()
def release(tmp_path):
    return make_fake_release(tmp_path / "release")


@pytest.fixture()
def sums(tmp_path, release):
    return write_checksums(release, tmp_path / "sums")


def test_download_unpack_and_read(tmp_path, release, sums):
    dest, local = tmp_path / "data", tmp_path / "local"
    result = run_script("--dest", str(dest), "--base-url", release.as_uri(), checksums=sums, local_dir=local)
    assert result.returncode == 0, result.stdout + result.stderr

    dataset = dest / "Flickr8k"
    files = find_dataset_files(dataset)
    assert files.token_file == dataset / "Flickr8k.token.txt"
    assert files.images_dir == dataset / "Flicker8k_Dataset"
    assert files.train_list is not None and files.dev_list is not None and files.test_list is not None
    assert sorted(p.name for p in files.images_dir.iterdir()) == sorted(IMAGE_NAMES)  # no __MACOSX junk
    assert not (dataset / "__MACOSX").exists() and not (dest / "__MACOSX").exists()
    # The zips were downloaded to the local disk and deleted after the verified unpack; only their
    # SHA-256 (recorded on first use) is kept beside the data.
    assert sorted((dest / "downloads").iterdir()) == [dest / "downloads" / "SHA256SUMS"]
    recorded = (dest / "downloads" / "SHA256SUMS").read_text()
    for name in ("Flickr8k_Dataset.zip", "Flickr8k_text.zip"):
        assert f"{sha256((release / name).read_bytes())}  {name}\n" in recorded
    assert not list(local.rglob("*.zip")) and not list(local.glob(".Flickr8k-staging-*"))

    captions = read_captions(files.token_file, files.images_dir)
    assert len(captions) == 15 and captions["image"].nunique() == 3  # the .jpg.1 key is dropped

    assert "20 lines naming 4 images" in result.stdout
    assert "3 JPEGs" in result.stdout
    assert f"missing: 1 ({BROKEN_KEY})" in result.stdout
    assert "SHA-256 as known: Flickr8k.token.txt, Flickr_8k.devImages.txt" in result.stdout


def test_second_run_downloads_nothing(tmp_path, release, sums):
    dest = tmp_path / "data"
    assert run_script("--dest", str(dest), "--base-url", release.as_uri(), checksums=sums).returncode == 0
    files = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}

    for path in release.iterdir():  # the "server" is gone: a second run must not need it
        path.unlink()
    result = run_script("--dest", str(dest), "--base-url", release.as_uri(), checksums=sums)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("no download needed") == 2
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == files


def test_keep_zips_keeps_them_beside_the_data(tmp_path, release, sums):
    script = load_script()
    dest = tmp_path / "data"
    assert script.prepare_flickr8k(dest, release.as_uri(), keep_zips=True, local_dir=tmp_path / "local",
                                   checksums=sums).ok
    for name in ("Flickr8k_text.zip", "Flickr8k_Dataset.zip"):
        assert (dest / "downloads" / name).read_bytes() == (release / name).read_bytes()


def test_interrupted_steps_are_redone(tmp_path, release, sums):
    script = load_script()
    dest, local = tmp_path / "data", tmp_path / "local"
    (local / "downloads").mkdir(parents=True)
    # A half-finished download of the images zip and a stale staging folder from a killed unpack,
    # both on the local disk where downloading and unpacking happen.
    (local / "downloads" / "Flickr8k_Dataset.zip.part").write_bytes((release / "Flickr8k_Dataset.zip").read_bytes()[:100])
    (local / ".Flickr8k-staging-Flickr8k_Dataset").mkdir(parents=True)

    result = script.prepare_flickr8k(dest, release.as_uri(), local_dir=local, checksums=sums)
    assert result.ok, result.summary()
    assert not (local / "downloads" / "Flickr8k_Dataset.zip.part").exists()
    assert not (local / ".Flickr8k-staging-Flickr8k_Dataset").exists()
    assert sorted(p.name for p in (dest / "Flickr8k" / "Flicker8k_Dataset").iterdir()) == sorted(IMAGE_NAMES)


def test_unpacking_happens_on_the_local_disk(tmp_path, release, sums, monkeypatch):
    script = load_script()
    staged = []
    real_extract = script.extract_zip
    monkeypatch.setattr(script, "extract_zip", lambda zip_path, staging: (staged.append((zip_path, staging)),
                                                                           real_extract(zip_path, staging)))
    local = tmp_path / "local"
    script.prepare_flickr8k(tmp_path / "data", release.as_uri(), local_dir=local, checksums=sums)
    assert len(staged) == 2
    for zip_path, staging in staged:  # the zip and its staging folder are both on the local disk
        assert local in Path(zip_path).parents and local in Path(staging).parents


def test_published_md5_mismatch_stops_before_unpacking(tmp_path, release):
    # The tiny zips are not the real release: against the kit's own MD5SUMS they must be refused.
    dest = tmp_path / "data"
    result = run_script("--dest", str(dest), "--base-url", release.as_uri(), local_dir=tmp_path / "local")
    assert result.returncode == 1
    expected = hashlib.md5((release / "Flickr8k_text.zip").read_bytes()).hexdigest()
    assert "Flickr8k_text.zip: MD5 " + expected in result.stderr
    assert "expected bf6c1abcb8e4a833b7f922104de18627 (published sum" in result.stderr
    assert "run the same command again" in result.stderr
    assert not (dest / "Flickr8k").exists() or not any((dest / "Flickr8k").iterdir())
    assert not list((tmp_path / "local").rglob("*.zip"))  # the bad download was deleted


def test_text_file_mismatch_stops_and_moves_nothing(tmp_path, release):
    sums = write_checksums(release, tmp_path / "sums", zips=False)  # text sums only: the zip itself is not known
    good = (sums / "SHA256SUMS").read_text()
    wrong = "0" * 64
    (sums / "SHA256SUMS").write_text(good.replace(good.split()[good.split().index("Flickr8k.token.txt") - 1], wrong))
    dest = tmp_path / "data"
    result = run_script("--dest", str(dest), "--base-url", release.as_uri(), checksums=sums, local_dir=tmp_path / "l")
    assert result.returncode == 1
    assert "Flickr8k.token.txt: SHA256" in result.stderr and f"expected {wrong}" in result.stderr
    assert "Nothing was moved into" in result.stderr
    assert not (dest / "Flickr8k" / "Flickr8k.token.txt").exists()
    assert not (dest / "Flickr8k" / ".unpacked-Flickr8k_text.zip").exists()


def test_recorded_zip_sum_is_checked_on_later_use(tmp_path, release):
    sums = write_checksums(release, tmp_path / "sums", zips=False)  # trust on first use: no known zip sums
    dest = tmp_path / "data"
    assert run_script("--dest", str(dest), "--base-url", release.as_uri(), checksums=sums).returncode == 0
    # The images must be unpacked again, and the source now serves another zip under the same name.
    (dest / "Flickr8k" / ".unpacked-Flickr8k_Dataset.zip").unlink()
    with zipfile.ZipFile(release / "Flickr8k_Dataset.zip", "a") as archive:
        archive.writestr("Flicker8k_Dataset/extra.jpg", b"not the same file")
    result = run_script("--dest", str(dest), "--base-url", release.as_uri(), checksums=sums)
    assert result.returncode == 1
    assert "Flickr8k_Dataset.zip: SHA256" in result.stderr
    assert "recorded when this data folder first verified it" in result.stderr


def test_damaged_text_file_is_caught_on_a_later_run(tmp_path, release, sums):
    dest = tmp_path / "data"
    assert run_script("--dest", str(dest), "--base-url", release.as_uri(), checksums=sums).returncode == 0
    token = dest / "Flickr8k" / "Flickr8k.token.txt"
    token.write_text(token.read_text()[:-20])  # e.g. a sync that stopped half way
    for args in ((), ("--verify-only",)):
        result = run_script("--dest", str(dest), "--base-url", release.as_uri(), *args, checksums=sums)
        assert result.returncode == 1
        assert f"ERROR: {token}: SHA256" in result.stdout and ".unpacked-Flickr8k_text.zip" in result.stdout


def test_kit_checksum_files_match_the_known_text_release():
    """data_prep/SHA256SUMS holds the sums of ../shared/data/flickr8k_text; MD5SUMS the published zip sums."""
    script = load_script()
    known = script.KnownSums.load()
    assert sorted(known.text_files()) == ["Flickr8k.lemma.token.txt", "Flickr8k.token.txt",
                                          "Flickr_8k.devImages.txt", "Flickr_8k.testImages.txt",
                                          "Flickr_8k.trainImages.txt"]
    assert known.md5 == {"Flickr8k_text.zip": "bf6c1abcb8e4a833b7f922104de18627",
                         "Flickr8k_Dataset.zip": "f18a1e2920de5bd84dae7cf08ec78978"}
    shared = REPO.parent / "shared" / "data" / "flickr8k_text"
    if not shared.is_dir():
        pytest.skip(f"{shared} not here")
    assert script.check_text_files(shared, known, "") == sorted(known.text_files())


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one in-memory file and honours `Range: bytes=N-` like GitHub's download servers."""

    payload: ClassVar[bytes] = b""
    ranges_seen: ClassVar[list] = []

    def do_GET(self):  # the name http.server looks for
        start = 0
        requested = self.headers.get("Range")
        type(self).ranges_seen.append(requested)
        if requested:
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_download_resumes_a_part_file(tmp_path, monkeypatch):
    script = load_script()
    for name in ("no_proxy", "NO_PROXY"):  # a CI proxy must not intercept the local server
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    payload = bytes(range(256)) * 40
    RangeHandler.payload, RangeHandler.ranges_seen = payload, []
    server = http.server.HTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = tmp_path / "Flickr8k_text.zip"
        (tmp_path / "Flickr8k_text.zip.part").write_bytes(payload[:1000])  # an interrupted earlier run
        script.download(f"http://127.0.0.1:{server.server_port}/Flickr8k_text.zip", target)
    finally:
        server.shutdown()
        server.server_close()
    assert RangeHandler.ranges_seen == ["bytes=1000-"]
    assert target.read_bytes() == payload
    assert not (tmp_path / "Flickr8k_text.zip.part").exists()


def test_download_skips_finished_file(tmp_path, release):
    script = load_script()
    target = tmp_path / "out" / "Flickr8k_text.zip"
    target.parent.mkdir()
    target.write_bytes(b"already here")
    script.download(release.as_uri() + "/Flickr8k_text.zip", target)
    assert target.read_bytes() == b"already here"


def test_missing_source_fails_with_message(tmp_path):
    result = run_script("--dest", str(tmp_path / "data"), "--base-url", (tmp_path / "nowhere").as_uri())
    assert result.returncode == 1
    assert "Check the path" in result.stderr


def test_truncated_zip_is_reported(tmp_path, release):
    script = load_script()
    broken = tmp_path / "broken.zip"
    broken.write_bytes((release / "Flickr8k_Dataset.zip").read_bytes()[:50])
    with pytest.raises(RuntimeError, match="not a complete zip"):
        script.unpack(broken, tmp_path / "data" / "Flickr8k")


def test_verify_alone(tmp_path, release, sums):
    script = load_script()
    dataset = tmp_path / "data" / "Flickr8k"
    missing = script.verify(dataset)
    assert not missing.ok and "no Flickr8k.token.txt" in missing.errors[0]

    script.prepare_flickr8k(tmp_path / "data", release.as_uri(), checksums=sums)
    result = script.verify(dataset)
    assert result.ok and not result.is_real_flickr8k  # usable, but not the full release
    assert (result.token_lines, result.token_images, result.jpegs) == (20, 4, 3)
    assert result.missing_images == [BROKEN_KEY]
    assert "Flicker8k_Dataset: 3 JPEGs" in result.summary()

    verify_only = run_script("--dest", str(tmp_path / "data"), "--verify-only", checksums=sums)
    assert verify_only.returncode == 0 and "usable by t2ilib" in verify_only.stdout


def test_expected_numbers_match_reference():
    script = load_script()
    assert (script.EXPECTED_TOKEN_LINES, script.EXPECTED_JPEGS) == (40_460, 8_091)
    assert script.EXPECTED_MISSING == (BROKEN_KEY,)


# ---------------------------------------------------------------------------------------
# data_prep/glove.py: local download, trust-on-first-use sums, the zip's CRC
# ---------------------------------------------------------------------------------------
def load_glove_script():
    path = REPO / "data_prep" / "glove.py"
    spec = importlib.util.spec_from_file_location("data_prep_glove_checks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_glove_zip(path: Path, dims=(50,)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for dim in dims:
            archive.writestr(f"glove.6B.{dim}d.txt", "".join(f"w{i} " + " ".join(["0.25"] * dim) + "\n" for i in range(4)))
    return path


def test_glove_zip_is_deleted_and_sums_are_recorded_then_checked(tmp_path):
    script = load_glove_script()
    release = make_glove_zip(tmp_path / "release" / "glove.6B.zip")
    dest, local = tmp_path / "data", tmp_path / "local"
    [path] = script.prepare_glove(dest, (50,), release.as_uri(), local_dir=local)
    assert sorted(p.name for p in dest.iterdir()) == ["downloads", "glove.6B.50d.txt"]
    assert sorted(p.name for p in (dest / "downloads").iterdir()) == ["SHA256SUMS"]  # the zip is gone
    assert not list(local.rglob("*.zip"))
    recorded = (dest / "downloads" / "SHA256SUMS").read_text()
    assert f"{sha256(release.read_bytes())}  glove.6B.zip" in recorded
    assert f"{sha256(path.read_bytes())}  glove.6B.50d.txt" in recorded

    path.write_text(path.read_text().replace("0.25", "0.26", 1))  # damaged after the first run
    with pytest.raises(script.ChecksumMismatch, match=r"glove.6B.50d.txt: SHA256 .*\(recorded in .* on first use\)"):
        script.prepare_glove(dest, (50,), release.as_uri(), local_dir=local)


def test_glove_damaged_zip_stops_with_message(tmp_path):
    script = load_glove_script()
    release = make_glove_zip(tmp_path / "release" / "glove.6B.zip")
    data = bytearray(release.read_bytes())
    data[100] ^= 0xFF  # one flipped byte inside the stored member: only its CRC-32 can tell
    release.write_bytes(bytes(data))
    dest = tmp_path / "data"
    assert script.main(["--dest", str(dest), "--url", release.as_uri(), "--local-dir", str(tmp_path / "l")]) == 1
    assert not (dest / "glove.6B.50d.txt").exists() and not (dest / "glove.6B.50d.txt.part").exists()
    assert not list((tmp_path / "l").rglob("*.zip"))  # the damaged download was deleted


def test_glove_size_is_checked_for_the_stanford_zip(tmp_path, monkeypatch):
    script = load_glove_script()
    release = make_glove_zip(tmp_path / "release" / "glove.6B.zip")
    monkeypatch.setattr(script, "GLOVE_URL", release.as_uri())  # as if the tiny zip came from Stanford
    with pytest.raises(script.ChecksumMismatch, match="expected 862,182,613"):
        script.prepare_glove(tmp_path / "data", (50,), release.as_uri(), local_dir=tmp_path / "l")
