"""Download and unzip helpers shared by the data_prep scripts (standard library only).

`download(url, target)` resumes an interrupted download (`target.part`, HTTP Range) and
skips a finished file; `extract_zip(zip_path, folder)` unpacks safely (no path outside
`folder`, no macOS junk). file:// URLs work too, which is how the tests run them offline.

Checksums: `read_sums` reads `sha256sum`/`md5sum` files; `check_file` compares a file with
the sums it is known by and raises `ChecksumMismatch` (file, expected, got, what to do);
`record_sum` writes a sum the kit did not know (trust on first use) so that every later use
of that file is checked against it. `local_work_dir()` is the runtime's local disk, where
downloads and unpacking happen before anything is moved to a (slow, metered) Drive folder.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

CHUNK_BYTES = 1 << 20
LOCAL_DIR_VARIABLE = "T2ILIB_LOCAL_DIR"  # where downloads are unpacked first (default: /content/t2ilib_local on Colab)
COLAB_LOCAL_DIR = "/content/t2ilib_local"


def local_work_dir(setting=None) -> Path:
    """The runtime's local disk for downloads and unpacking: `setting` if given, else
    $T2ILIB_LOCAL_DIR, else /content/t2ilib_local on Colab (where /content is the VM's own disk),
    else a new temporary folder."""
    chosen = setting or os.environ.get(LOCAL_DIR_VARIABLE)
    if chosen:
        folder = Path(chosen).expanduser()
    elif Path("/content").is_dir() and os.access("/content", os.W_OK):
        folder = Path(COLAB_LOCAL_DIR)
    else:
        folder = Path(tempfile.mkdtemp(prefix="t2ilib-local-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------
class ChecksumMismatch(RuntimeError):
    """A file's checksum differs from the one it is known (or was first seen) by."""


def file_digest(path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_sums(path) -> dict[str, str]:
    """{file name: hex digest} from a `sha256sum`/`md5sum` file ("<hex>  <name>" per line); {} if absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    sums = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not all(c in "0123456789abcdefABCDEF" for c in parts[0]):
            raise ValueError(f"{path}, line {number}: expected '<hex digest>  <file name>', got {line!r}.")
        sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


def record_sum(path, name: str, digest: str) -> None:
    """Add or replace `name`'s line in the sums file `path` (kept sorted by name)."""
    path = Path(path)
    sums = read_sums(path)
    sums[name] = digest
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    temporary.write_text("".join(f"{value}  {key}\n" for key, value in sorted(sums.items())))
    os.replace(temporary, path)


def check_file(path, known: dict[str, tuple[str | None, str]], what_to_do: str) -> dict[str, str]:
    """Compare `path` with its known digests and return the digests computed.

    `known` maps an algorithm ("sha256", "md5") to (expected hex digest, where that sum comes
    from); algorithms without an expected value are skipped. A difference raises
    `ChecksumMismatch` naming the file, the expected and the actual digest, and `what_to_do`.
    """
    path = Path(path)
    got = {}
    for algorithm, (expected, source) in known.items():
        if not expected:
            continue
        got[algorithm] = file_digest(path, algorithm)
        if got[algorithm] != expected.lower():
            raise ChecksumMismatch(
                f"{path}: {algorithm.upper()} {got[algorithm]}, expected {expected} ({source}). "
                f"The file is damaged or is not the one expected. {what_to_do}")
    return got


# ---------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------
def _report(done: int, total: int | None, started: float, name: str, final: bool = False) -> None:
    rate = done / max(time.time() - started, 1e-6) / 1e6
    if total:
        text = f"  {name}: {done / 1e6:8.1f} / {total / 1e6:.1f} MB ({100 * done / total:5.1f} %, {rate:.1f} MB/s)"
    else:
        text = f"  {name}: {done / 1e6:8.1f} MB ({rate:.1f} MB/s)"
    print(text, end="\n" if final else "\r", flush=True)


def download(url: str, target, retries: int = 3) -> Path:
    """Download `url` to `target` unless `target` already exists; return `target`.

    Bytes go to `target.part`, renamed to `target` only when the transfer is complete (and
    its size matches Content-Length when the server sends one). An existing `.part` file is
    continued with an HTTP Range request; servers that ignore Range (and file:// URLs) send
    the whole file again, which then replaces the `.part` file.
    """
    target = Path(target)
    if target.is_file():
        print(f"  {target.name}: already downloaded ({target.stat().st_size / 1e6:.1f} MB), skipped.")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    last_error = None
    for attempt in range(1, retries + 1):
        try:
            _download_once(url, partial)
            os.replace(partial, target)
            return target
        except OSError as error:  # URLError, HTTPError and ConnectionError are OSErrors
            if isinstance(error, urllib.error.HTTPError) and error.code in (403, 404):
                raise RuntimeError(f"{url}: HTTP {error.code}. Check the URL (or --base-url).") from error
            if not url.startswith(("http://", "https://")):
                raise RuntimeError(f"Could not read {url} ({error}). Check the path (or --base-url).") from error
            last_error = error
            print(f"\n  {target.name}: attempt {attempt} of {retries} failed ({error}); "
                  f"{partial.stat().st_size / 1e6 if partial.exists() else 0:.1f} MB kept in {partial.name}.")
            time.sleep(min(2 ** attempt, 10))
    raise RuntimeError(
        f"Could not download {url} after {retries} attempts ({last_error}). Re-run the same command: "
        f"the download continues from {partial}.")


def _download_once(url: str, partial: Path) -> None:
    name = partial.name.removesuffix(".part")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "t2ilib-data-prep"})
    if have and url.startswith(("http://", "https://")):
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # "range not satisfiable": the .part is already whole
            return
        raise
    with response:
        status = getattr(response, "status", None) or 200
        resumed = status == 206
        if not resumed:
            have = 0  # the server sends everything: start the .part file again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if resumed:
            print(f"  {name}: continuing the earlier download at {have / 1e6:.1f} MB")
        started, done = time.time(), have
        last_print = started
        with open(partial, "ab" if resumed else "wb") as out:
            while True:
                chunk = response.read(CHUNK_BYTES)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if time.time() - last_print > 2:
                    _report(done, total, started, name)
                    last_print = time.time()
        _report(done, total, started, name, final=True)
    if total is not None and done != total:
        raise ConnectionError(f"transfer ended at {done} of {total} bytes")


# ---------------------------------------------------------------------------------------
# Unpack
# ---------------------------------------------------------------------------------------
def _is_junk(member_name: str) -> bool:
    """macOS metadata the official zips carry (__MACOSX/, ._name files)."""
    parts = Path(member_name).parts
    return any(part == "__MACOSX" or part.startswith("._") or part == ".DS_Store" for part in parts)


def extract_zip(zip_path: Path, staging: Path) -> None:
    """Unpack every member of `zip_path` into `staging`, refusing paths that leave it; skip macOS junk."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as error:
        raise RuntimeError(
            f"{zip_path} is not a complete zip file ({error}). Delete it and re-run to download it again.") from error
    with archive:
        root = staging.resolve()
        for member in archive.infolist():
            if _is_junk(member.filename):
                continue
            destination = (staging / member.filename).resolve()
            if root not in destination.parents and destination != root:
                raise RuntimeError(f"{zip_path}: member {member.filename!r} would unpack outside {staging}; refusing.")
            archive.extract(member, staging)
