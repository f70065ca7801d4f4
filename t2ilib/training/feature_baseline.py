"""The Xception feature baseline (StackGAN+BERT report, footnote 1 and appendix C), end to end.

    image -> Xception feature (cached)  ->  Stage-I trained to redraw the image from it
    caption -> text embedding -> mapper -> feature  ->  the same generator, driven by text

1. `feature_run_config(config)`: the run config of the baseline. Same data, model and training
   as a text run; only the condition changes (`condition.source = "xception-features"`), so
   `train_stage1(feature_run_config(config), run_dir)` trains it with the usual run directory
   (checkpoints, sample grids, history, metrics; resume).
2. `train_mapper(feature_run_dir, mapper_dir, text_config)`: caption embedding -> feature, on the
   training captions, with retrieval recall on the validation captions.
3. `generate_from_text(feature_run_dir, mapper_dir, captions)`: text -> mapper -> generator.
4. `reconstruction_grid(feature_run_dir)`: each test image beside what the generator draws from
   its feature.
5. `compare_with_text(text_run_dir, feature_run_dir, mapper_dir, output_dir)`: the same captions
   and noise through the text-conditioned Stage-I and through the baseline, side by side, plus
   the shapes fidelity of both (and of the reconstruction) in one table.
`run_feature_baseline` does 1-5 from one config (both runs resume if they exist).

Honest note: with `condition.feature_weights=None` (offline) Xception has random weights, so its
"features" are random projections of the pixels. The numbers then check the pipeline, not the
idea; the real comparison needs ImageNet weights (Colab).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from t2ilib.config import MapperConfig, RunConfig, TextConfig, resume_changes, section_from_dict
from t2ilib.data.prepare import fixed_sample_rows, prepare_data
from t2ilib.features.mapper import build_mapper, mapped_retrieval
from t2ilib.features.xception import FEATURE_SOURCE
from t2ilib.models.sampling import sample_grid, seeded_noise
from t2ilib.training import stage1
from t2ilib.training.callbacks import HistoryCSV
from t2ilib.training.checkpoints import refuse_non_finite
from t2ilib.training.gan import embed_all_captions, sample_noise
from t2ilib.viz import save_sample_grid, side_by_side

logger = logging.getLogger("t2ilib")

MAPPER_FILE, MAPPER_WEIGHTS = "mapper.json", "mapper.weights.h5"
SAME_DATA_KEYS = ("dataset", "split_rule", "image_size", "shapes_num_images", "shapes_seed")


def feature_run_config(config: RunConfig, weights="imagenet", input_size: int = 299) -> RunConfig:
    """`config` with the caption embedding replaced by the image's Xception feature as the
    condition (`condition.source`); its text section stays, unread by the run."""
    return config.replace(**{"name": f"{config.name}_xception", "condition.source": FEATURE_SOURCE,
                             "condition.feature_weights": weights, "condition.feature_input_size": int(input_size)})


def _load_run_config(run_dir, feature: bool) -> RunConfig:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"No config.json in {run_dir}: train the run first (train_stage1).")
    config = RunConfig.load(path)
    if feature and config.condition.source != FEATURE_SOURCE:
        raise ValueError(f"{path}: condition.source is {config.condition.source!r}, not {FEATURE_SOURCE!r}; pass the "
                         "run trained with feature_run_config(...).")
    if not feature and config.condition.source == FEATURE_SOURCE:
        raise ValueError(f"{path} is a feature-conditioned run; pass the text-conditioned Stage-I run here.")
    return config


def _text_run_config(feature_config: RunConfig, text_config: TextConfig) -> RunConfig:
    """A config that embeds the feature run's captions with `text_config` (same cache as a text run)."""
    return RunConfig(data=feature_config.data, text=text_config)


def train_mapper(feature_run_dir, mapper_dir, text_config: TextConfig, mapper_config: MapperConfig | None = None,
                 verbose: int = 0) -> dict:
    """Train the text-to-feature mapper of a feature-conditioned run; return its metrics.

    Inputs: the caption embeddings of `text_config` (the text run's encoder, so both sides of the
    comparison read the same vectors). Targets: the standardised Xception feature of each
    caption's image, exactly what the feature run's generator was trained on. Training captions
    only; retrieval recall@1/@5 on the validation captions among the validation images.
    Writes mapper.json, mapper.weights.h5, history.csv and metrics.json in `mapper_dir`; called
    again with the same settings it returns the saved metrics without retraining.
    """
    mapper_config = (mapper_config or MapperConfig()).validate()
    mapper_dir = Path(mapper_dir)
    feature_config = _load_run_config(feature_run_dir, feature=True)
    settings = {"mapper": asdict(mapper_config), "text": asdict(text_config),
                "features": {key: value for key, value in asdict(feature_config.condition).items()
                             if key.startswith("feature_")},
                "data": {key: getattr(feature_config.data, key) for key in SAME_DATA_KEYS}}
    info_path = mapper_dir / MAPPER_FILE
    if info_path.exists() and (mapper_dir / MAPPER_WEIGHTS).exists():
        # the same settings (t2ilib.config.RUN_TYPES["mapper"]: none may change): reuse it
        resume_changes("mapper", info_path, json.loads(info_path.read_text()), settings, allow_change=None,
                       advice="choose another mapper_dir, or delete that one")
        return json.loads((mapper_dir / "metrics.json").read_text())

    prepared = prepare_data(feature_config.data, progress=False)
    condition, conditions = embed_all_captions(feature_config, prepared)
    encoder, embeddings = embed_all_captions(_text_run_config(feature_config, text_config), prepared)
    train = prepared.split("train")
    held_out = "validation" if (prepared.captions["split"] == "validation").any() else "test"
    validation = prepared.split(held_out)

    keras.utils.set_random_seed(mapper_config.seed)
    mapper = build_mapper(embeddings.shape[1], conditions.shape[1], mapper_config)
    mapper_dir.mkdir(parents=True, exist_ok=True)
    (mapper_dir / "history.csv").unlink(missing_ok=True)
    history = mapper.fit(embeddings[train.index], conditions[train.index], batch_size=mapper_config.batch_size,
                         epochs=mapper_config.epochs, shuffle=True, verbose=verbose,
                         validation_data=(embeddings[validation.index], conditions[validation.index]),
                         callbacks=[HistoryCSV(mapper_dir / "history.csv")])

    metrics = {"held_out_split": held_out,
               **evaluate_mapper(mapper, embeddings, conditions, validation, prepared.attributes)}
    metrics.update({name: float(values[-1]) for name, values in history.history.items() if name in ("loss", "val_loss")})
    refuse_non_finite(mapper.variables, f"The mapper weights {mapper_dir / MAPPER_WEIGHTS}")
    mapper.save_weights(mapper_dir / MAPPER_WEIGHTS)
    info_path.write_text(json.dumps({**settings, "feature_run_dir": str(Path(feature_run_dir).resolve()),
                                     "text_encoder": encoder.cache_key(), "condition": condition.cache_key(),
                                     "text_dim": int(embeddings.shape[1]), "feature_dim": int(conditions.shape[1])},
                                    indent=2) + "\n")
    (mapper_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def evaluate_mapper(mapper, embeddings: np.ndarray, conditions: np.ndarray, captions: pd.DataFrame,
                    attributes: pd.DataFrame | None = None) -> dict:
    """Retrieval of each caption's own image among the images of `captions` (a split table), the
    mean cosine of mapped vs true feature, and the mapped vectors' length relative to the true ones.

    With `attributes` (the shapes dataset's table, one row per caption row) also `attributes_*`:
    a hit is any image with the caption's four attributes, since several images share them and
    the text cannot tell those apart.
    """
    mapped = _map(mapper, embeddings[captions.index])
    images = captions.drop_duplicates("row")
    candidates = conditions[images.index]  # one feature per distinct image
    position = {row: index for index, row in enumerate(images["row"])}
    targets = np.array([position[row] for row in captions["row"]])
    truth = conditions[captions.index]
    cosine = np.sum(mapped * truth, axis=1) / np.maximum(
        np.linalg.norm(mapped, axis=1) * np.linalg.norm(truth, axis=1), 1e-12)
    metrics = {**mapped_retrieval(mapped, candidates, targets), "mean_cosine": float(np.mean(cosine)),
               "norm_ratio": float(np.linalg.norm(mapped, axis=1).mean() / np.linalg.norm(truth, axis=1).mean())}
    if attributes is not None:
        from t2ilib.data.shapes import ATTRIBUTES

        groups = attributes.loc[images.index, list(ATTRIBUTES)].astype(str).agg("/".join, axis=1)
        by_attributes = mapped_retrieval(mapped, candidates, targets, groups=groups.to_numpy())
        metrics.update({f"attributes_{key}": value for key, value in by_attributes.items()
                        if key.startswith(("recall", "chance", "median"))})
    return metrics


def load_mapper(mapper_dir, feature_run_dir=None):
    """(mapper, text encoder, mapper.json contents) of a trained mapper directory.

    `feature_run_dir` (default: the one recorded at training) supplies the data settings the text
    encoder needs (Word2Vec is rebuilt from that dataset's training captions)."""
    mapper_dir = Path(mapper_dir)
    info_path = mapper_dir / MAPPER_FILE
    if not info_path.exists() or not (mapper_dir / MAPPER_WEIGHTS).exists():
        raise FileNotFoundError(f"No trained mapper in {mapper_dir}: run train_mapper(feature_run_dir, mapper_dir, ...) first.")
    info = json.loads(info_path.read_text())
    feature_config = _load_run_config(feature_run_dir or info["feature_run_dir"], feature=True)
    text_config = section_from_dict(TextConfig, info["text"], "text")
    prepared = prepare_data(feature_config.data, progress=False)
    encoder, _ = embed_all_captions(_text_run_config(feature_config, text_config), prepared)
    mapper = build_mapper(info["text_dim"], info["feature_dim"], MapperConfig.from_dict(info["mapper"]), compile=False)
    mapper.load_weights(mapper_dir / MAPPER_WEIGHTS)
    refuse_non_finite(mapper.variables, f"The mapper weights {mapper_dir / MAPPER_WEIGHTS}")
    return mapper, encoder, info


def generate_from_text(run_dir, mapper_dir, captions: list[str], num_per_caption: int = 1, seed: int = 0) -> np.ndarray:
    """uint8 images (len(captions), num_per_caption, S, S, 3): caption -> mapper -> feature -> generator.

    The noise is drawn exactly as `t2ilib.training.stage1.generate` draws it, so the same `seed`
    gives a text-conditioned run the same noise vectors (when both have the same noise size).
    """
    generator, _, config = stage1.load_generator(run_dir)
    mapper, encoder, _ = load_mapper(mapper_dir, run_dir)
    return _draw(generator, config, _map(mapper, encoder.encode(list(captions))), num_per_caption, seed)


def _map(mapper, embeddings: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The mapper's features for caption embeddings, in inference mode (eager: no graph to trace)."""
    embeddings = np.asarray(embeddings, np.float32)
    return np.concatenate([keras.ops.convert_to_numpy(mapper(embeddings[start:start + batch_size], training=False))
                           for start in range(0, len(embeddings), batch_size)])


def _draw(generator, config: RunConfig, conditions: np.ndarray, num_per_caption: int, seed: int) -> np.ndarray:
    """`stage1.generate`'s noise for `seed`, every condition with every noise vector."""
    return sample_grid(generator, conditions, seeded_noise(seed, (num_per_caption, config.model.noise_dim)))


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.asarray(image)).resize((size, size), Image.Resampling.BICUBIC))
                     for image in images])


def reconstruction_grid(run_dir, path=None, num_images: int | None = None) -> Path:
    """Save (and return the path of) a grid of test images: in every cell the original (left) and
    what the feature-conditioned generator draws from its Xception feature (right), one column
    per fixed noise vector of the run. Default path: `run_dir/samples/reconstructions.png`."""
    run_dir = Path(run_dir)
    generator, _, config = stage1.load_generator(run_dir)
    prepared = prepare_data(config.data, progress=False)
    _, conditions = embed_all_captions(config, prepared)
    return _reconstruction_grid(generator, config, prepared, conditions, path or run_dir / "samples" / "reconstructions.png",
                                num_images)


def _reconstruction_grid(generator, config: RunConfig, prepared, conditions: np.ndarray, path, num_images=None) -> Path:
    rows = fixed_sample_rows(prepared.captions, num_images or config.train.num_sample_captions)
    generated = sample_grid(generator, conditions[rows], sample_noise(config))  # (C, K, S, S, 3)
    originals = _resize(prepared.cache.array[prepared.captions.loc[rows, "row"].to_numpy()], generated.shape[2])
    cells = side_by_side(np.broadcast_to(originals[:, None], generated.shape), generated)
    labels = [f"{image}: {caption}" for image, caption in prepared.captions.loc[rows, ["image", "caption"]].to_numpy()]
    return save_sample_grid(cells, labels, path,
                            title="original image (left) | generated from its Xception feature (right)")


def compare_with_text(text_run_dir, feature_run_dir, mapper_dir, output_dir, captions: list[str] | None = None,
                      num_per_caption: int = 3, seed: int = 0) -> pd.DataFrame:
    """The text-conditioned Stage-I against the feature baseline driven by text.

    Writes to `output_dir`:
      comparison.png     per caption and noise vector: text run (left) | text -> mapper -> baseline (right)
      reconstructions.png  test images beside their reconstruction from the true feature
      comparison.csv     shapes fidelity (built-in dataset) of: the text run, the baseline from
                         text, the baseline from the true image feature, chance
      comparison.json    the table plus the mapper's retrieval numbers
    Returns the table (empty of numbers on a dataset without attribute ground truth).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    text_config = _load_run_config(text_run_dir, feature=False)
    feature_config = _load_run_config(feature_run_dir, feature=True)
    different = [key for key in SAME_DATA_KEYS if getattr(text_config.data, key) != getattr(feature_config.data, key)]
    if different:
        raise ValueError(f"{text_run_dir} and {feature_run_dir} were trained on different data ({', '.join(different)}); "
                         "compare runs of the same dataset.")
    if text_config.model.noise_dim != feature_config.model.noise_dim or text_config.train.seed != feature_config.train.seed:
        logger.warning("The two runs differ in noise size or seed: the side-by-side cells do not share noise.")

    prepared = prepare_data(text_config.data, progress=False)
    if captions is None:
        rows = fixed_sample_rows(prepared.captions, text_config.train.num_sample_captions)
        captions = prepared.captions.loc[rows, "caption"].tolist()
    # Each network is loaded once; the caption vectors of every row come from the caches.
    text_generator, text_encoder, _ = stage1.load_generator(text_run_dir)
    feature_generator, _, _ = stage1.load_generator(feature_run_dir)
    mapper, mapper_encoder, info = load_mapper(mapper_dir, feature_run_dir)
    if info["text"] != asdict(text_config.text):
        logger.warning("The mapper reads captions with another encoder than the text run (%s vs %s).",
                       info["text_encoder"], text_encoder.cache_key())
    text_images = _draw(text_generator, text_config, text_encoder.encode(list(captions)), num_per_caption, seed)
    feature_images = _draw(feature_generator, feature_config, _map(mapper, mapper_encoder.encode(list(captions))),
                           num_per_caption, seed)
    save_sample_grid(side_by_side(text_images, feature_images), captions, output_dir / "comparison.png",
                     title="same caption, same noise: text-conditioned Stage-I (left) | "
                           "text -> mapper -> Xception-feature Stage-I (right)")
    _, conditions = embed_all_captions(feature_config, prepared)
    _reconstruction_grid(feature_generator, feature_config, prepared, conditions, output_dir / "reconstructions.png")

    rows = []
    if prepared.attributes is not None:
        _, text_embeddings = embed_all_captions(text_config, prepared)
        _, mapper_embeddings = embed_all_captions(_text_run_config(feature_config, section_from_dict(TextConfig, info["text"], "text")),
                                                         prepared)
        mapped = _map(mapper, mapper_embeddings)
        for label, generator, config, vectors in (
                ("text -> text-conditioned Stage-I", text_generator, text_config, text_embeddings),
                ("text -> mapper -> Xception-feature Stage-I", feature_generator, feature_config, mapped),
                ("true image feature -> Xception-feature Stage-I (reconstruction)", feature_generator,
                 feature_config, conditions)):
            # evaluation_rows_and_noise depends on the train seed and sizes only: same rows and noise for all.
            scores = stage1.evaluate_stage1(generator, config, prepared, vectors)
            rows.append({"condition": label, **_fidelity_columns(scores["fidelity"]),
                         "mismatched_mean": scores["fidelity_mismatched_captions"]["mean"],
                         "samples": scores["fidelity_samples"]})
        from t2ilib.metrics.fidelity import chance_fidelity

        rows.append({"condition": "chance", **_fidelity_columns(chance_fidelity())})
    table = pd.DataFrame(rows, columns=["condition", "mean", "shape", "colour", "position", "background",
                                        "mismatched_mean", "samples"]).astype({"samples": "Int64"})
    table.to_csv(output_dir / "comparison.csv", index=False)
    mapper_metrics_path = Path(mapper_dir) / "metrics.json"
    summary = {"table": json.loads(table.to_json(orient="records")), "captions": list(captions), "seed": seed,
               "feature_weights": feature_config.condition.feature_weights,
               "feature_input_size": feature_config.condition.feature_input_size,
               "mapper": json.loads(mapper_metrics_path.read_text()) if mapper_metrics_path.exists() else None}
    (output_dir / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
    return table


def _fidelity_columns(scores: dict) -> dict:
    return {name: round(float(scores[name]), 4) for name in ("mean", "shape", "colour", "position", "background")}


def run_feature_baseline(config: RunConfig, text_run_dir, feature_run_dir, output_dir, feature_weights="imagenet",
                         feature_input_size: int = 299, mapper_config: MapperConfig | None = None,
                         verbose: int = 0) -> dict:
    """The whole baseline from one config: train (or resume) the text-conditioned Stage-I in
    `text_run_dir` and the feature-conditioned one in `feature_run_dir`, train the mapper in
    `output_dir/mapper`, then `compare_with_text`. Returns {"mapper": metrics, "table": DataFrame,
    "text_run": metrics, "feature_run": metrics}."""
    text_metrics = stage1.train_stage1(config, text_run_dir, verbose=verbose)
    feature_metrics = stage1.train_stage1(feature_run_config(config, feature_weights, feature_input_size),
                                          feature_run_dir, verbose=verbose)
    mapper_dir = Path(output_dir) / "mapper"
    mapper_metrics = train_mapper(feature_run_dir, mapper_dir, config.text, mapper_config, verbose=verbose)
    table = compare_with_text(text_run_dir, feature_run_dir, mapper_dir, output_dir)
    return {"text_run": text_metrics, "feature_run": feature_metrics, "mapper": mapper_metrics, "table": table}


def summarize_baseline(mapper_metrics: dict, table: pd.DataFrame, feature_weights=None) -> str:
    """A few lines: how well text lands on its image's feature, and the fidelity table."""
    lines = [f"Mapper on {mapper_metrics['queries']} {mapper_metrics['held_out_split']} captions among "
             f"{mapper_metrics['candidates']} images: recall@1 {mapper_metrics['recall@1']:.2f} "
             f"(chance {mapper_metrics['chance@1']:.2f}), recall@5 {mapper_metrics['recall@5']:.2f} "
             f"(chance {mapper_metrics['chance@5']:.2f}), median rank {mapper_metrics['median_rank']:.0f}; "
             f"mean cosine to the true feature {mapper_metrics['mean_cosine']:.2f}."]
    if "attributes_recall@1" in mapper_metrics:
        lines.append(f"Counting any image with the caption's attributes as a hit: recall@1 "
                     f"{mapper_metrics['attributes_recall@1']:.2f} (chance {mapper_metrics['attributes_chance@1']:.2f}), "
                     f"recall@5 {mapper_metrics['attributes_recall@5']:.2f} "
                     f"(chance {mapper_metrics['attributes_chance@5']:.2f}).")
    if len(table):
        lines.append(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))
    if feature_weights is None or str(feature_weights).lower() in ("none", "random"):
        lines.append("Xception had random weights (offline): its features are random projections of the pixels, so "
                     "these numbers check the pipeline only. Use ImageNet weights for the real comparison.")
    return "\n".join(lines)
