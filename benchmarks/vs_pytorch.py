"""The kit's StackGAN training step against the official PyTorch StackGAN, on the same CPU.

    python benchmarks/vs_pytorch.py --rounds 5                 # Stage-I, batch 16 and 64
    python benchmarks/vs_pytorch.py --stage 2                  # Stage-II, 256x256, batch 8
    python benchmarks/vs_pytorch.py --kit default mixed_bfloat16 --torch channels-last

Two worker processes, so that TensorFlow and torch never share one: the kit (its own
`build_stage1`/`build_stage2` and `train_step`, the `official` preset, trained with `fit`;
variants in KIT_VARIANTS: "default" = the preset's own settings, float32 with XLA by
`train.jit_compile` "auto", and one setting changed in each of the others) and PyTorch (benchmarks/torch_stackgan.py: the official architecture
and step, official parameter counts asserted; NCHW and channels-last). Both get 2 intra-op
threads and the same synthetic batches, already in memory. Every variant first runs
`--warmup` untimed steps (tracing, XLA compilation, allocator warm-up); then the rounds
alternate kit and torch variants (kit, torch, kit, torch, ...), `--steps` timed steps each.
The table gives the median over rounds of seconds per step (wall clock, and the worker's CPU
seconds), images/s, and the kit's speed relative to the faster PyTorch layout: >1 means the
kit is faster. On a shared machine single figures move by 20% or more; the interleaved
medians and ratios are what to read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

THREADS = 2
EMBEDDING_DIM = 1024
# The kit's variants: "default" is the `official` preset as it ships (float32; XLA by
# train.jit_compile "auto", which is on for StackGAN on one device); the others change one setting.
# "textbook up-blocks" traces the up-blocks as UpSampling2D + conv3x3 instead of
# `upsample_conv3x3` (same numbers), for the A/B of that change.
KIT_VARIANTS = {
    "default": {},
    "xla off": {"train.jit_compile": False},
    "textbook up-blocks": {},
    "mixed_bfloat16": {"train.mixed_precision": "mixed_bfloat16"},
    "mixed_bfloat16, xla off": {"train.mixed_precision": "mixed_bfloat16", "train.jit_compile": False},
}
DEFAULT_KIT_VARIANTS = ("default", "xla off")
TORCH_VARIANTS = ("NCHW", "channels-last")


def synthetic_batch(stage: int, batch_size: int):
    """The same numbers on both sides: NHWC float32 images in [-1, 1], 1024-d embeddings, noises."""
    import numpy as np

    size = 64 if stage == 1 else 256
    rng = np.random.default_rng(batch_size)
    real = rng.uniform(-1, 1, (batch_size, size, size, 3)).astype(np.float32)
    embeddings = rng.standard_normal((batch_size, EMBEDDING_DIM)).astype(np.float32)
    noise = rng.standard_normal((batch_size, 100)).astype(np.float32)
    condition_noise = rng.standard_normal((batch_size, 128)).astype(np.float32)
    return real, embeddings, real[::-1].copy(), noise, condition_noise


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class KitSide:
    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        self.tf = tf
        self.cache = {}

    def setup(self, stage: int, batch_size: int, variant: str):
        import keras

        from t2ilib.config import preset
        from t2ilib.models.stackgan import build_stage1

        config = preset("official").replace(**{"train.batch_size": batch_size, **KIT_VARIANTS[variant]})
        keras.utils.set_random_seed(0)
        gan = build_stage1(config, EMBEDDING_DIM, steps_per_epoch=1000)
        if stage == 2:
            from t2ilib.models.stackgan2 import build_stage2

            gan = build_stage2(config, gan.generator, EMBEDDING_DIM, steps_per_epoch=1000)
        real, embeddings, wrong, noise, condition_noise = synthetic_batch(stage, batch_size)
        dataset = self.tf.data.Dataset.from_tensors(((real, embeddings, wrong), (noise, condition_noise))).repeat()
        return gan, dataset.prefetch(2), variant == "textbook up-blocks"

    def run(self, setup, steps: int) -> None:
        gan, dataset, textbook = setup
        if not textbook:
            return gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        from t2ilib.models import blocks

        fused = blocks.upsample_conv3x3
        blocks.upsample_conv3x3 = textbook_upsample_conv3x3  # read when the train step is traced (the warm-up)
        try:
            gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        finally:
            blocks.upsample_conv3x3 = fused

    def describe(self, stage: int, batch_size: int, variant: str) -> str:
        gan = self.current[(stage, batch_size, variant)][0]
        return f"XLA {'on' if gan.jit_compile else 'off'}, {gan.generator.dtype_policy.name}"


def textbook_upsample_conv3x3(x, kernel):
    """UpSampling2D(nearest) then conv3x3 "same": what `upsample_conv3x3` computes in one 2x2 conv."""
    from keras import ops

    return ops.conv(ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2), ops.cast(kernel, x.dtype), padding="same")


class TorchSide:
    def __init__(self):
        import torch

        torch.set_num_threads(THREADS)
        self.torch = torch
        self.cache = {}

    def setup(self, stage: int, batch_size: int, variant: str):
        from torch_stackgan import Trainer, build

        torch = self.torch
        torch.manual_seed(0)
        generator, discriminator = build(stage, EMBEDDING_DIM)
        real, embeddings, wrong, _, _ = synthetic_batch(stage, batch_size)
        real, wrong = (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous() for x in (real, wrong))
        if variant == "channels-last":
            generator, discriminator = (m.to(memory_format=torch.channels_last) for m in (generator, discriminator))
            real, wrong = (x.contiguous(memory_format=torch.channels_last) for x in (real, wrong))
        return Trainer(generator, discriminator), (real, torch.from_numpy(embeddings), wrong)

    def run(self, setup, steps: int) -> None:
        trainer, batch = setup
        for _ in range(steps):
            trainer.step(*batch)

    def describe(self, stage: int, batch_size: int, variant: str) -> str:
        return "float32, eager"


def worker(side: str) -> None:
    """Read one JSON request a line, answer one JSON line: {"setup": ...} or {"run": ...}."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    runner = KitSide() if side == "kit" else TorchSide()
    runner.current = current = {}
    for line in sys.stdin:
        request = json.loads(line)
        key = (request["stage"], request["batch"], request["variant"])
        if request["op"] == "setup":  # build and warm up, untimed; drop models of other batch sizes
            for old in [k for k in current if k[:2] != key[:2]]:
                del current[old]
            start = time.perf_counter()
            current[key] = runner.setup(*key)
            runner.run(current[key], request["steps"])
            answer = {"warmup_s": time.perf_counter() - start, "settings": runner.describe(*key)}
        else:
            wall, cpu = time.perf_counter(), cpu_seconds()
            runner.run(current[key], request["steps"])
            answer = {"wall_s": (time.perf_counter() - wall) / request["steps"],
                      "cpu_s": (cpu_seconds() - cpu) / request["steps"]}
        print(json.dumps(answer), flush=True)


class Worker:
    def __init__(self, side: str):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", side], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"The benchmark worker died (exit code {self.process.wait()}); see its error above.")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def machine_line() -> str:
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPU cores ({cpu}), load average {load} at start; Python {platform.python_version()}, "
            f"torch {torch.__version__}; {THREADS} intra-op threads each")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", type=int, default=1, choices=[1, 2])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="default: 16 64 (Stage-I), 8 (II)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (kit, torch, kit, torch, ...)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first")
    parser.add_argument("--kit", nargs="+", default=list(DEFAULT_KIT_VARIANTS), choices=list(KIT_VARIANTS))
    parser.add_argument("--torch", nargs="+", default=list(TORCH_VARIANTS), choices=TORCH_VARIANTS)
    parser.add_argument("--worker", choices=["kit", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    batch_sizes = args.batch_sizes or ([16, 64] if args.stage == 1 else [8])

    print(f"Machine: {machine_line()}")
    size = 64 if args.stage == 1 else 256
    print(f"Stage-{'I' * args.stage} {size}x{size}, official widths (precision and XLA: each row); "
          f"median of {args.rounds} interleaved "
          f"rounds of {args.steps} steps after {args.warmup} warm-up steps", flush=True)
    kit, torch_worker = Worker("kit"), Worker("torch")
    started = time.perf_counter()
    rows = []
    try:
        for batch in batch_sizes:
            kit_variants, torch_variants = [(kit, v) for v in args.kit], [(torch_worker, v) for v in args.torch]
            order = [pair for pairs in itertools.zip_longest(kit_variants, torch_variants) for pair in pairs if pair]
            settings = {}
            for side, variant in order:
                answer = side.ask(op="setup", stage=args.stage, batch=batch, variant=variant, steps=args.warmup)
                settings[variant] = answer["settings"]
            times = {variant: [] for _, variant in order}
            for _ in range(args.rounds):
                for side, variant in order:
                    times[variant].append(side.ask(op="run", stage=args.stage, batch=batch, variant=variant,
                                                   steps=args.steps))
            best_torch = min(statistics.median(t["wall_s"] for t in times[v]) for v in args.torch)
            for side, variant in order:
                wall = statistics.median(t["wall_s"] for t in times[variant])
                cpu = statistics.median(t["cpu_s"] for t in times[variant])
                rows.append((batch, "t2ilib" if side is kit else "PyTorch", f"{variant} ({settings[variant]})", wall,
                             cpu, batch / wall, best_torch / wall))
    finally:
        kit.close()
        torch_worker.close()
    print("| batch | side | variant | s/step (median) | CPU s/step | images/s | speed vs faster PyTorch |")
    print("|---|---|---|---|---|---|---|")
    for batch, side, variant, wall, cpu, images, ratio in rows:
        print(f"| {batch} | {side} | {variant} | {wall:.3f} | {cpu:.2f} | {images:.1f} | {ratio:.2f}x |")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Total {time.perf_counter() - started:.0f} s; load average {load} at the end")


if __name__ == "__main__":
    main()
