"""Peak memory of preparing and streaming a Flickr8k-sized dataset at Stage-II's 256x256.

Does the kit fit in a free Colab runtime (12.7 GB RAM, of which the notebook, TensorFlow and the
models need most)? The target is a peak resident set under 3 GB for the data side alone.

    python benchmarks/ram_flickr8k.py                      # 8,091 images (Flickr8k's size), 300 batches of 64
    python benchmarks/ram_flickr8k.py --num-images 2000    # quicker
    python benchmarks/ram_flickr8k.py --folder /data/fake8k --keep   # generate once, reuse

1. Generates (once per folder) a dataset in Flickr8k layout: `--num-images` JPEGs of typical
   Flickr8k sizes (500x375, 375x500, 500x333, 500x500; quality 90, smooth colour fields plus
   noise, ~60-120 KB each) with 5 captions each.
2. In a fresh child process (so nothing of step 1 is counted): `prepare_data` at image size 256
   (the image cache at `load_size_for(256)` = 304 px, 2.2 GB on disk for 8,091 images), one
   768-d float32 embedding per caption (BERT's size), then `--batches` batches of
   `make_gan_dataset` (random 256 crops, flips, wrong images), each batch read in full.
3. Prints the child's peak resident set (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, read in
   the child, and `RUSAGE_CHILDREN` in the parent), the peaks of its anonymous and file-backed
   parts (sampled from /proc/self/status every 50 ms), and the time of each phase.

File-backed pages are the shared libraries (TensorFlow alone maps ~0.4 GB) and the pages of the
memory-mapped image cache: the kernel drops them whenever it needs memory, so they cannot make a
runtime run out of RAM; anonymous memory is what can.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import machine, peak_rss_mb  # also puts the repository's t2ilib first on sys.path

FLICKR_SIZES = [(500, 375), (375, 500), (500, 333), (500, 500)]
ROOT = Path(__file__).resolve().parents[1]


def generate_dataset(folder: Path, num_images: int, seed: int = 0) -> float:
    """Write `num_images` JPEGs and Flickr8k.token.txt into `folder` (skipped when complete)."""
    import numpy as np
    from PIL import Image

    images = folder / "Flicker8k_Dataset"
    token_file = folder / "Flickr8k.token.txt"
    if token_file.exists() and len(list(images.glob("*.jpg"))) == num_images:
        return 0.0
    start = time.perf_counter()
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # One grain pattern per size, shifted per image: texture for the JPEG coder at little cost.
    grain = {size: rng.integers(-12, 13, (size[1], size[0], 3)).astype(np.int16) for size in FLICKR_SIZES}
    lines = []
    for index in range(num_images):
        width, height = FLICKR_SIZES[index % len(FLICKR_SIZES)]
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        picture = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.int16)
        shift = tuple(int(value) for value in rng.integers(0, 300, 2))
        picture = np.clip(picture + np.roll(grain[(width, height)], shift, axis=(0, 1)), 0, 255).astype(np.uint8)
        name = f"{1000000 + index}_{index:010x}.jpg"
        Image.fromarray(picture).save(images / name, quality=90)
        lines += [f"{name}#{k}\tA generated picture number {index} , caption {k} ." for k in range(5)]
        if (index + 1) % 1000 == 0:
            print(f"  generated {index + 1} / {num_images} images", flush=True)
    token_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return time.perf_counter() - start


class PeakSampler(threading.Thread):
    """Largest RssAnon and RssFile (kB) of this process, sampled every `interval` seconds."""

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval, self.peaks, self.running = interval, {"RssAnon": 0, "RssFile": 0}, True

    def sample(self):
        with open("/proc/self/status") as status:
            for line in status:
                key = line.split(":")[0]
                if key in self.peaks:
                    self.peaks[key] = max(self.peaks[key], int(line.split()[1]))

    def run(self):
        while self.running:
            self.sample()
            time.sleep(self.interval)


def child(folder: Path, work_dir: Path, batches: int, batch_size: int, image_size: int) -> dict:
    """Prepare and stream in this (fresh) process; return timings and memory figures."""
    sampler = PeakSampler()
    if Path("/proc/self/status").exists():
        sampler.start()
    import numpy as np

    from t2ilib.config import DataConfig
    from t2ilib.data.pipeline import make_gan_dataset
    from t2ilib.data.prepare import prepare_data

    result = {}
    start = time.perf_counter()
    prepared = prepare_data(DataConfig(dataset=str(folder), data_dir=str(work_dir)), image_size=image_size,
                            progress=False)
    result["prepare_s"] = time.perf_counter() - start
    result["cache_shape"] = list(prepared.cache.array.shape)
    result["cache_bytes"] = int(prepared.cache.array.nbytes)
    result["captions"] = len(prepared.captions)
    result["peak_rss_after_prepare_mb"] = peak_rss_mb()

    train = prepared.split("train")
    embeddings = np.random.default_rng(0).standard_normal((len(prepared.captions), 768), dtype=np.float32)
    dataset = make_gan_dataset(prepared.cache.array, train["row"].to_numpy(), embeddings[train.index],
                               batch_size=batch_size, image_size=image_size, repeat=True)
    start = time.perf_counter()
    checksum = 0.0
    for real, embedding, wrong in dataset.take(batches):
        checksum += float(real.numpy()[:, 0, 0, 0].sum() + wrong.numpy()[:, 0, 0, 0].sum())
    result["stream_s"] = time.perf_counter() - start
    result["batches"] = batches
    result["peak_rss_mb"] = peak_rss_mb()
    result["machine"] = machine()
    sampler.running = False
    if sampler.is_alive():
        sampler.sample()
        result["peak_anon_kb"], result["peak_file_kb"] = sampler.peaks["RssAnon"], sampler.peaks["RssFile"]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-images", type=int, default=8091, help="images to generate (Flickr8k: 8,091)")
    parser.add_argument("--folder", type=Path, help="dataset folder (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder and the image cache")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # the measured process
        folder, work_dir = args.folder, args.child
        print(json.dumps(child(folder, work_dir, args.batches, args.batch_size, args.image_size)))
        return 0

    temporary = None if args.folder else tempfile.mkdtemp(prefix="ram_flickr8k_")
    base = args.folder or Path(temporary)
    folder, work_dir = base / "dataset", base / "work"
    try:
        print(f"Generating {args.num_images} JPEGs in {folder} ...", flush=True)
        generate_seconds = generate_dataset(folder, args.num_images)
        shutil.rmtree(work_dir, ignore_errors=True)  # always measure a cache build from scratch
        environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                       "TF_CPP_MIN_LOG_LEVEL": "2"}
        command = [sys.executable, __file__, "--folder", str(folder), "--child", str(work_dir),
                   "--batches", str(args.batches), "--batch-size", str(args.batch_size),
                   "--image-size", str(args.image_size)]
        start = time.perf_counter()
        finished = subprocess.run(command, env=environment, capture_output=True, text=True)
        child_seconds = time.perf_counter() - start
        if finished.returncode:
            print(finished.stdout, finished.stderr, sep="\n")
            return finished.returncode
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / (1024 ** 2 if sys.platform == "darwin" else 1024)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(temporary, ignore_errors=True)
        elif not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)

    peak_gib = max(result["peak_rss_mb"], children_mb) / 1024
    print(f"machine: {result['machine']}")
    print(f"images: {args.num_images}, captions: {result['captions']}, cache {result['cache_shape']} uint8 "
          f"= {result['cache_bytes'] / 1024 ** 3:.2f} GiB on disk")
    print(f"generate: {generate_seconds:.0f} s (0 = reused) | prepare (captions, splits, image cache): "
          f"{result['prepare_s']:.0f} s | stream {result['batches']} batches of {args.batch_size} at "
          f"{args.image_size}x{args.image_size}: {result['stream_s']:.0f} s | child total {child_seconds:.0f} s")
    print(f"peak RSS after prepare: {result['peak_rss_after_prepare_mb'] / 1024:.2f} GiB")
    print(f"peak RSS (ru_maxrss, child; parent's RUSAGE_CHILDREN {children_mb / 1024:.2f} GiB): {peak_gib:.2f} GiB "
          f"-> {'under' if peak_gib * 1024 ** 3 < 3e9 else 'OVER'} the 3 GB target")
    if "peak_anon_kb" in result:
        print(f"  of which at most {result['peak_anon_kb'] / 1024 ** 2:.2f} GiB anonymous (heap, TensorFlow, batches) "
              f"and {result['peak_file_kb'] / 1024 ** 2:.2f} GiB file-backed (libraries, memory-mapped cache: "
              "reclaimable)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
