"""Stage-I training speed: images per second for float32 / mixed precision and XLA on / off.

    python benchmarks/stage1_throughput.py                       # tiny and official widths, this machine
    python benchmarks/stage1_throughput.py --widths official --batch-size 64 --steps 20   # on a GPU

Each setting builds a fresh Stage-I GAN (64x64, 1024-d embeddings as with BERT), feeds it
synthetic batches already in memory (the input pipeline is measured by input_pipeline.py),
runs `--warmup` steps (tracing, XLA compilation) and then times `--steps` steps. It prints
images/second and the epochs per hour this means on Flickr8k's 32,364 training pairs.
Mixed precision is mixed_float16 on a GPU and mixed_bfloat16 on a CPU.
"""

from __future__ import annotations

import argparse
import time

from common import machine, peak_rss_mb

FLICKR8K_TRAIN_PAIRS = 32_364
WIDTHS = {"tiny": dict(generator_width=16, discriminator_width=16, condition_dim=32, noise_dim=32),
          "official": dict(generator_width=128, discriminator_width=64, condition_dim=128, noise_dim=100)}


def measure(widths: str, batch_size: int, precision: str, xla: bool, steps: int, warmup: int,
            embedding_dim: int = 1024) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from t2ilib.config import preset
    from t2ilib.models.stackgan import build_stage1

    model = {f"model.{key}": value for key, value in WIDTHS[widths].items()}
    config = preset("official").replace(**model, **{"train.batch_size": batch_size, "train.mixed_precision": precision,
                                                    "train.jit_compile": xla, "train.lr_decay_epochs": 0})
    keras.utils.set_random_seed(0)
    gan = build_stage1(config, embedding_dim, steps_per_epoch=steps)
    rng = np.random.default_rng(0)
    size = config.data.image_size
    images = rng.uniform(-1, 1, (batch_size, size, size, 3)).astype(np.float32)
    batch = ((images, rng.standard_normal((batch_size, embedding_dim)).astype(np.float32), images[::-1].copy()),
             (rng.standard_normal((batch_size, config.model.noise_dim)).astype(np.float32),
              rng.standard_normal((batch_size, config.model.condition_dim)).astype(np.float32)))
    dataset = tf.data.Dataset.from_tensors(batch).repeat().prefetch(2)
    start = time.perf_counter()
    gan.fit(dataset, epochs=1, steps_per_epoch=warmup, verbose=0)
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    history = gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0).history
    seconds = time.perf_counter() - start
    finite = all(np.isfinite(values[-1]) for values in history.values())
    images_per_s = steps * batch_size / seconds
    return {"widths": widths, "batch": batch_size, "precision": config.train.mixed_precision, "xla": xla,
            "s_per_step": seconds / steps, "images_per_s": images_per_s, "warmup_s": warmup_s,
            "epochs_per_hour": images_per_s * 3600 / FLICKR8K_TRAIN_PAIRS, "finite_losses": finite}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", nargs="+", default=["tiny", "official"], choices=sorted(WIDTHS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, XLA compilation)")
    parser.add_argument("--precision", nargs="+", default=["off", "mixed"], choices=["off", "mixed"])
    parser.add_argument("--xla", nargs="+", default=["off", "on"], choices=["off", "on"])
    args = parser.parse_args(argv)

    import tensorflow as tf

    mixed = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    print(f"Machine: {machine()}")
    print(f"Stage-I 64x64, batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up steps")
    print(f"| widths | precision | XLA | s/step | images/s | Flickr8k epochs/hour | warm-up s | finite |")
    print(f"|---|---|---|---|---|---|---|---|")
    for widths in args.widths:
        for precision in args.precision:
            for xla in args.xla:
                row = measure(widths, args.batch_size, mixed if precision == "mixed" else "off", xla == "on",
                              args.steps, args.warmup)
                print(f"| {row['widths']} | {row['precision']} | {'on' if row['xla'] else 'off'} | "
                      f"{row['s_per_step']:.3f} | {row['images_per_s']:.1f} | {row['epochs_per_hour']:.2f} | "
                      f"{row['warmup_s']:.1f} | {row['finite_losses']} |", flush=True)
    print(f"Peak resident memory: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
