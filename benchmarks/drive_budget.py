"""What the Colab notebooks keep, at full Flickr8k scale: sizes per artefact, and the Drive total.

    python benchmarks/drive_budget.py            # builds the colab-preset networks (CPU, ~1 min, ~3 GB RAM)
    python benchmarks/drive_budget.py --no-save  # parameter arithmetic only, no checkpoint written

Image caches and embeddings are arithmetic (8,091 images, 40,455 captions; uint8 caches at the
76/64 load size, float32 embeddings). Checkpoint sizes are measured: the colab preset's Stage-I
(768-d BERT embeddings), its Stage-II (256x256, official widths) and the four VAE models are
built (all weights and optimizer slots exist) and written once with `RunCheckpoint` to a
temporary folder; the printed parameter arithmetic (weights + optimizer slots, 4 bytes each)
is there to check the measurement against. Dataset files: the text files of
../shared/data/flickr8k_text and the sizes of the published zips.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path)

IMAGES, CAPTIONS = 8_091, 40_455
MB = 1e6
# Published download sizes (bytes): glove.6B.zip as served by nlp.stanford.edu (862,182,613), the two
# Flickr8k zips of the jbrownlee release (about 1.04 GiB and 2.3 MB). Unpacked, the 8,091 JPEGs take
# about as much as their zip (JPEG does not compress further).
FLICKR8K_IMAGES_ZIP = 1.12e9  # approximate ("about 1 GB"); its exact size is not recorded here
FLICKR8K_IMAGES = 1.12e9  # approximate, as the zip
GLOVE_ZIP = 862_182_613
GLOVE_50D = 171_350_079  # glove.6B.50d.txt (171 MB)


def cache_bytes(image_size: int) -> int:
    load = int(round(image_size * 76 / 64))
    return IMAGES * load * load * 3


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def count(variables) -> int:
    import numpy as np

    return sum(int(np.prod(variable.shape)) for variable in variables)


def checkpoint_row(name: str, parts: dict, trainable: int, save: bool) -> dict:
    """Values a RunCheckpoint of `parts` holds, 4 bytes each, and (with `save`) its size on disk."""
    from t2ilib.training.checkpoints import RunCheckpoint

    every = sum(count(part.variables) for part in parts.values())
    optimizer_values = sum(count(part.variables) for key, part in parts.items() if "optimizer" in key)
    row = {"name": name, "trainable": trainable, "variables": every, "formula_bytes": 4 * every,
           "slots": round(optimizer_values / trainable, 2)}
    if save:
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = RunCheckpoint(Path(folder) / "checkpoints", parts, max_to_keep=1)
            checkpoint.save(1, step=1)
            row["measured_bytes"] = folder_bytes(Path(folder) / "checkpoints")
    return row


def attngan_row(save: bool) -> dict:
    """AttnGAN at the paper's settings on Flickr8k (3 stages to 256 px, gf 32, df 64, noise and
    condition 100, DAMSM D 256 over an InceptionV3, 18 word ids a caption), its vocabulary the
    kit's tokenizer fitted on the 40,455 Flickr8k captions of ../shared: every network of a run's
    checkpoint, the frozen DAMSM pair included (the backbone's weights random here: same size)."""
    import dataclasses

    from t2ilib.config import preset
    from t2ilib.data.flickr8k import read_captions
    from t2ilib.training.attngan import build_attngan, damsm_settings_for
    from t2ilib.training.checkpoints import gan_checkpoint_parts
    from t2ilib.training.damsm import build_damsm, make_tokenizer

    config = preset("colab").replace(**{
        "model.family": "attngan", "text.encoder": "tokenizer", "text.tokenizer_length": 18, "data.image_size": 256,
        "model.generator_width": 32, "model.discriminator_width": 64, "model.noise_dim": 100,
        "model.condition_dim": 100, "model.kl_weight": 1.0, "train.mixed_precision": "off", "attngan.stages": 3})
    settings = dataclasses.replace(damsm_settings_for(config), backbone_weights=None)
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k_text"
    captions = read_captions(shared / "Flickr8k.token.txt")["caption"].tolist()
    vocabulary = len(make_tokenizer(settings, captions=captions).vocabulary) + 2  # + padding and unknown ids
    gan = build_attngan(config, build_damsm(settings, vocabulary), steps_per_epoch=1)
    trainable = count(gan.generator.generator.trainable_variables) + count(gan.discriminator.trainable_variables)
    return checkpoint_row(f"AttnGAN (paper settings, 3 stages to 256 px, {vocabulary:,} word ids; G + D trainable)",
                          gan_checkpoint_parts(gan), trainable, save)


def networks(save: bool) -> list[dict]:
    from t2ilib.config import preset
    from t2ilib.models.stackgan import build_stage1
    from t2ilib.models.stackgan2 import build_stage2
    from t2ilib.training.checkpoints import gan_checkpoint_parts
    from t2ilib.training.vae import MODEL_NAMES, VAEConfig, build_vae

    config = preset("colab").replace(**{"train.mixed_precision": "off"})
    rows = []
    for label, dim in (("Stage-I (colab preset, 64 px, 768-d BERT)", 768),
                       ("Stage-I on Xception features (notebook 06, 2048-d)", 2048)):
        stage1 = build_stage1(config, dim, steps_per_epoch=1)
        trainable = count(stage1.generator.trainable_variables) + count(stage1.discriminator.trainable_variables)
        rows.append(checkpoint_row(label, gan_checkpoint_parts(stage1), trainable, save))
        if dim == 768:  # what train_stage2 builds (t2ilib.training.stage2.stage2_plan)
            stage2 = build_stage2(config, stage1.generator, 768, steps_per_epoch=1, image_size=config.stage2.image_size)
            trainable = count(stage2.generator.trainable_variables) + count(stage2.discriminator.trainable_variables)
            rows.append(checkpoint_row("Stage-II (colab preset, 256 px, frozen Stage-I inside)",
                                       gan_checkpoint_parts(stage2), trainable, save))
    rows.append(attngan_row(save))
    for name in MODEL_NAMES:
        model, optimizer = build_vae(name, VAEConfig(), 50)
        rows.append(checkpoint_row(f"VAE {name} (GloVe 50-d)", {"model": model, "optimizer": optimizer},
                                   count(model.trainable_variables), save))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-save", action="store_true", help="do not write the checkpoints, arithmetic only")
    args = parser.parse_args()

    print("Data (full Flickr8k)")
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k_text"
    text = sum(path.stat().st_size for path in shared.glob("*.txt") if not path.name.startswith(("SOURCES", "readme")))
    rows = [
        ("Flickr8k_Dataset.zip, approx. (deleted after a verified unpack)", FLICKR8K_IMAGES_ZIP),
        ("Flickr8k images, 8,091 JPEGs, approx. (Drive)", FLICKR8K_IMAGES),
        ("Flickr8k text files (Drive)", text),
        ("glove.6B.zip (deleted after extracting)", GLOVE_ZIP),
        ("glove.6B.50d.txt (Drive)", GLOVE_50D),
    ]
    for size in (32, 64, 128, 256):
        load = int(round(size * 76 / 64))
        rows.append((f"image cache for {size} px ({load}x{load}x3 uint8 x 8,091)", cache_bytes(size)))
    rows.append(("VAE letterbox targets (64x64x3 float32 x 8,091)", IMAGES * 64 * 64 * 3 * 4))
    for name, dim in (("BERT / sentence-transformers", 768), ("Universal Sentence Encoder", 512), ("MiniLM", 384),
                      ("Word2Vec (colab 128-d)", 128), ("GloVe 50-d", 50), ("tokenizer ids (20)", 20),
                      ("one-hot (7,575 words)", 7_575)):
        rows.append((f"embeddings: {name}, 40,455 x {dim} float32", CAPTIONS * dim * 4))
    rows.append(("Xception features, 8,091 x 2,048 float32", IMAGES * 2048 * 4))
    for label, size in rows:
        print(f"  {size / MB:10.1f} MB  {label}")

    print("\nCheckpoints (one each; a run keeps train.max_to_keep of them, plus one in best/ where the")
    print("train.best_metric is logged: fidelity, i.e. on the shapes dataset only; on Flickr8k best/ stays empty)")
    sizes = {}
    for row in networks(save=not args.no_save):
        measured = f"{row['measured_bytes'] / MB:8.1f} MB measured" if "measured_bytes" in row else ""
        sizes[row["name"].split(" (")[0]] = row.get("measured_bytes", row["formula_bytes"])
        print(f"  {row['name']}: {row['trainable']:,} trainable, {row['variables']:,} values saved "
              f"(weights, statistics, {row['slots']} optimizer values per weight) = "
              f"{row['formula_bytes'] / MB:.1f} MB; "
              f"{measured}")

    vae_all = sum(size for name, size in sizes.items() if name.startswith("VAE"))
    print("\nOn Drive after notebooks 01-06 and 08 on Flickr8k, plus each variant notebook 07 trains (checkpoints of "
          "runs; sample grids and TensorBoard logs add a few MB per epoch; TF-Hub models not counted)")
    for title, keep1, keep2, keep_vae, caches_on_drive, zips_on_drive in (
            ("before issue 18: zips kept, caches on Drive, max_to_keep 3 (VAE 2)", 3, 3, 2, True, True),
            ("caches on local disk (data.cache_dir), zips deleted, max_to_keep 3 (VAE 2)", 3, 3, 2, False, False),
            ("... and Stage-II max_to_keep 1", 3, 1, 2, False, False),
            ("... and every run max_to_keep 1", 1, 1, 1, False, False)):
        parts = {
            "images + text + GloVe 50-d": FLICKR8K_IMAGES + text + GLOVE_50D,
            "zips": (FLICKR8K_IMAGES_ZIP + GLOVE_ZIP) if zips_on_drive else 0,
            "caches (64 + 256 px, BERT + one-hot, letterbox)": (cache_bytes(64) + cache_bytes(256)
                                                                + CAPTIONS * (768 + 7_575) * 4
                                                                + IMAGES * 64 * 64 * 3 * 4) if caches_on_drive else 0,
            "03 Stage-I": keep1 * sizes["Stage-I"],
            "04 Stage-II": keep2 * sizes["Stage-II"],
            "05 four VAEs": keep_vae * vae_all,
            "06 feature Stage-I": keep1 * sizes["Stage-I on Xception features"],
            "07 per Stage-I variant": keep1 * sizes["Stage-I"],
        }
        total = sum(value for name, value in parts.items() if not name.startswith("07"))
        print(f"  {total / 1e9:5.2f} GB + {parts['07 per Stage-I variant'] / 1e9:.2f} GB per notebook-07 variant  "
              f"{title}")
        print("         " + "; ".join(f"{name} {value / 1e9:.2f}" for name, value in parts.items() if value))


if __name__ == "__main__":
    main()
