"""Input pipeline speed: the kit's uint8 cache vs decoding the JPEGs again every epoch.

    python benchmarks/input_pipeline.py                    # 2,000 generated 500x375 JPEGs, 64x64 batches
    python benchmarks/input_pipeline.py --num-images 8091 --image-size 256

It writes `--num-images` JPEGs of Flickr8k's typical size into a temporary folder (or
`--folder`), then times, for the same number of batches of `--batch-size`:
  1. building the cache once (decode + resize every image to 76/64 of the image size);
  2. `make_gan_dataset` over the cache (what training uses: crop + flip + wrong images);
  3. a tf.data pipeline that reads and decodes the JPEG files for every batch, as code
     without a cache does every epoch (parallel decode, resize, random crop, flip, prefetch).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine, peak_rss_mb


def write_jpegs(folder: Path, count: int, width: int = 500, height: int = 375) -> list[str]:
    """`count` smooth random JPEGs (quality 90), named like Flickr8k's."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for number in range(count):
        name = f"{1000000 + number}_bench.jpg"
        path = folder / name
        if not path.exists():
            small = rng.integers(0, 256, (height // 25, width // 25, 3), dtype=np.uint8)
            Image.fromarray(small).resize((width, height), Image.BILINEAR).save(path, quality=90)
        names.append(name)
    return names


def time_batches(dataset, num_batches: int) -> float:
    """Seconds to pull `num_batches` batches (after one warm-up batch)."""
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(num_batches):
        next(iterator)
    return time.perf_counter() - start


def decode_every_time(folder: Path, names: list[str], image_size: int, batch_size: int):
    import tensorflow as tf

    from t2ilib.data.cache import load_size_for
    from t2ilib.data.pipeline import random_crop_and_flip, to_model_range

    load_size = load_size_for(image_size)

    def decode(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        return tf.cast(tf.image.resize(image, (load_size, load_size), antialias=True), tf.uint8)

    paths = [str(folder / name) for name in names]
    dataset = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=0).repeat()
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    dataset = dataset.enumerate().map(
        lambda step, images: to_model_range(random_crop_and_flip(images, image_size, tf.cast(tf.stack([0, step]), tf.int32))),
        num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--folder", type=Path, default=None, help="where the JPEGs go (default: a temporary folder)")
    args = parser.parse_args(argv)

    import numpy as np

    from t2ilib.data.cache import build_image_cache, load_size_for
    from t2ilib.data.pipeline import make_gan_dataset

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.folder or Path(temporary) / "Flicker8k_Dataset"
        print(f"Machine: {machine()}")
        start = time.perf_counter()
        names = write_jpegs(folder, args.num_images)
        print(f"{len(names)} JPEGs of 500x375 ready in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        cache = build_image_cache(folder, names, load_size_for(args.image_size), Path(temporary) / "cache.npy",
                                  progress=False)
        build_s = time.perf_counter() - start
        captions = np.repeat(np.arange(len(cache.names)), 4)  # 4 training captions per image, as in the split
        embeddings = np.random.default_rng(0).standard_normal((len(captions), 768)).astype(np.float32)
        cached = make_gan_dataset(cache.array, captions, embeddings, args.batch_size, args.image_size, repeat=True,
                                  noise_dims=(100, 128))
        cached_s = time_batches(cached, args.batches)
        decoded_s = time_batches(decode_every_time(folder, names, args.image_size, args.batch_size), args.batches)

    images = args.batches * args.batch_size
    print(f"\n{args.image_size}x{args.image_size} batches of {args.batch_size}, {args.batches} batches:")
    print("| pipeline | images/s | note |")
    print("|---|---|---|")
    print(f"| cache build (once) | {len(names) / build_s:.0f} | {build_s:.1f} s for {len(names)} images |")
    print(f"| make_gan_dataset from the uint8 cache | {images / cached_s:.0f} | real + wrong image, crop, flip, noise |")
    print(f"| decode JPEG every batch | {images / decoded_s:.0f} | real image only, crop, flip |")
    print(f"Peak resident memory: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
