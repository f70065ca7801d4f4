"""data_prep/flickr8k.py against tiny zips laid out like the real Flickr8k release.

The real `Flickr8k_Dataset.zip` holds `Flicker8k_Dataset/*.jpg` plus macOS `__MACOSX/` junk;
`Flickr8k_text.zip` holds the text files at its root. The fakes below copy that layout,
including the token-file key with a stray `.jpg.1` whose image does not exist.
"""

from __future__ import annotations

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


def run_script(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture()
def release(tmp_path):
    return make_fake_release(tmp_path / "release")


def test_download_unpack_and_read(tmp_path, release):
    dest = tmp_path / "data"
    result = run_script("--dest", str(dest), "--base-url", release.as_uri())
    assert result.returncode == 0, result.stdout + result.stderr

    dataset = dest / "Flickr8k"
    files = find_dataset_files(dataset)
    assert files.token_file == dataset / "Flickr8k.token.txt"
    assert files.images_dir == dataset / "Flicker8k_Dataset"
    assert files.train_list is not None and files.dev_list is not None and files.test_list is not None
    assert sorted(p.name for p in files.images_dir.iterdir()) == sorted(IMAGE_NAMES)  # no __MACOSX junk
    assert not (dataset / "__MACOSX").exists() and not (dest / "__MACOSX").exists()
    assert sorted((dest / "downloads").iterdir()) == [dest / "downloads" / "Flickr8k_Dataset.zip",
                                                      dest / "downloads" / "Flickr8k_text.zip"]

    captions = read_captions(files.token_file, files.images_dir)
    assert len(captions) == 15 and captions["image"].nunique() == 3  # the .jpg.1 key is dropped

    assert "20 lines naming 4 images" in result.stdout
    assert "3 JPEGs" in result.stdout
    assert f"missing: 1 ({BROKEN_KEY})" in result.stdout


def test_second_run_downloads_nothing(tmp_path, release):
    dest = tmp_path / "data"
    assert run_script("--dest", str(dest), "--base-url", release.as_uri()).returncode == 0
    zips = {p: p.stat().st_mtime_ns for p in (dest / "downloads").iterdir()}

    for path in release.iterdir():  # the "server" is gone: a second run must not need it
        path.unlink()
    result = run_script("--dest", str(dest), "--base-url", release.as_uri())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("no download needed") == 2
    assert {p: p.stat().st_mtime_ns for p in (dest / "downloads").iterdir()} == zips


def test_interrupted_steps_are_redone(tmp_path, release):
    script = load_script()
    dest = tmp_path / "data"
    downloads = dest / "downloads"
    downloads.mkdir(parents=True)
    # A half-finished download of the images zip and a stale staging folder from a killed unpack.
    (downloads / "Flickr8k_Dataset.zip.part").write_bytes((release / "Flickr8k_Dataset.zip").read_bytes()[:100])
    (dest / ".Flickr8k-staging-Flickr8k_Dataset").mkdir(parents=True)

    result = script.prepare_flickr8k(dest, release.as_uri())
    assert result.ok, result.summary()
    assert (downloads / "Flickr8k_Dataset.zip").read_bytes() == (release / "Flickr8k_Dataset.zip").read_bytes()
    assert not (downloads / "Flickr8k_Dataset.zip.part").exists()
    assert not (dest / ".Flickr8k-staging-Flickr8k_Dataset").exists()


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


def test_verify_alone(tmp_path, release):
    script = load_script()
    dataset = tmp_path / "data" / "Flickr8k"
    missing = script.verify(dataset)
    assert not missing.ok and "no Flickr8k.token.txt" in missing.errors[0]

    script.prepare_flickr8k(tmp_path / "data", release.as_uri())
    result = script.verify(dataset)
    assert result.ok and not result.is_real_flickr8k  # usable, but not the full release
    assert (result.token_lines, result.token_images, result.jpegs) == (20, 4, 3)
    assert result.missing_images == [BROKEN_KEY]
    assert "Flicker8k_Dataset: 3 JPEGs" in result.summary()

    verify_only = run_script("--dest", str(tmp_path / "data"), "--verify-only")
    assert verify_only.returncode == 0 and "usable by t2ilib" in verify_only.stdout


def test_expected_numbers_match_reference():
    script = load_script()
    assert (script.EXPECTED_TOKEN_LINES, script.EXPECTED_JPEGS) == (40_460, 8_091)
    assert script.EXPECTED_MISSING == (BROKEN_KEY,)
