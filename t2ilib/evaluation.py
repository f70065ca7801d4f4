"""Evaluate a trained run directory (any family's Stage-I run, or a Stage-II run) against a split of its dataset.

    results = evaluate_run("runs/stage1_colab", weights="imagenet", num_images=1000)
    results_table(results)            # one row per metric: value, std, N, image size, weights

Images are generated from the split's captions (one fixed noise vector per caption and sample,
seeded), quantised to uint8 as if saved as PNG, and compared with the split's real images
(centre crops at the run's image size). What you get, each a `MetricResult`:

- `fid`: generated vs real images (InceptionV3 pool features)
- `inception_score`, and `real_inception_score` for the real images of the same split
- `r_precision`, and `real_r_precision` (the judge on real pairs: the ceiling a generator can reach)
- `damsm_r_precision` (asked for by name: it pretrains a DAMSM once per dataset), and
  `real_damsm_r_precision`: the same protocol scored by a DAMSM, as published tables do
- `ms_ssim`: diversity between `num_per_caption` samples of each caption (lower = more diverse)
- `fidelity`: on the built-in shapes dataset only, attribute accuracy (with the chance level)

With `weights=None` the Inception numbers come from random weights: a pipeline check only.
Results are written to `run_dir/evaluation.json`.

For an AttnGAN run (`model.family = "attngan"`), `attention_maps(run_dir, caption)` gives, for one
caption, every stage's image and each later stage's word attention, one map per word, and
`save_attention_figure` (t2ilib.viz) draws them (`python -m t2ilib attention`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from t2ilib.data.prepare import real_images
from t2ilib.metrics.result import MetricResult

ALL_METRICS = ("fid", "inception_score", "r_precision", "diversity", "fidelity", "damsm_r_precision")
DEFAULT_METRICS = tuple(name for name in ALL_METRICS if name != "damsm_r_precision")  # a DAMSM is pretrained on request


def generate_for_captions(generator, embeddings, noise_dim: int, num_per_caption: int = 1, seed: int = 0,
                          batch_size: int = 64) -> np.ndarray:
    """uint8 (N, num_per_caption, S, S, 3): each caption with its own seeded noise vectors."""
    from t2ilib.models.sampling import sample_images, seeded_noise

    embeddings = np.asarray(embeddings, dtype=np.float32)
    noise = seeded_noise(seed, (len(embeddings), num_per_caption, noise_dim))
    images = sample_images(generator, np.repeat(embeddings, num_per_caption, axis=0), noise.reshape(-1, noise_dim),
                           batch_size=batch_size)
    return images.reshape((len(embeddings), num_per_caption) + images.shape[1:])


def evaluate_run(run_dir, split: str = "test", num_images: int | None = None, num_per_caption: int = 2,
                 weights: str | None = "imagenet", metrics=DEFAULT_METRICS, dual_encoder_epochs: int = 20,
                 seed: int = 0, batch_size: int = 32, checkpoint_dir: str = "checkpoints",
                 write: bool = True, damsm_settings=None) -> dict:
    """Every requested metric of a run on `split` (see module docstring); {name: MetricResult}.
    Any family's Stage-I run (StackGAN, DF-GAN, AttnGAN: its last stage's images), or a Stage-II
    run (its refined images, at `stage2.image_size`). `damsm_settings`
    (`t2ilib.training.damsm.DAMSMSettings`, for "damsm_r_precision"): default the official ones
    with the backbone `weights` (None: random, a pipeline check only)."""
    from t2ilib.data.prepare import prepare_data
    from t2ilib.training.gan import embed_all_captions
    from t2ilib.training.stage1 import load_generator
    from t2ilib.training.stage2 import is_stage2_run, load_stage2

    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics {sorted(unknown)}; choose from {ALL_METRICS}.")
    run_dir = Path(run_dir)
    if is_stage2_run(run_dir):  # the Stage-II generator, its Stage-I inside, at Stage-II's size
        generator, _, config = load_stage2(run_dir, checkpoint_dir=checkpoint_dir)
        size = config.stage2.image_size
    else:
        generator, _, config = load_generator(run_dir, checkpoint_dir=checkpoint_dir)
        size = config.data.image_size
    prepared = prepare_data(config.data, progress=False)
    _, embeddings = embed_all_captions(config, prepared)
    table = prepared.split(split)
    rows = table.index.to_numpy()[:num_images]
    if len(rows) < 2:
        raise ValueError(f"The {split!r} split of {prepared.root} has {len(rows)} caption(s): evaluation needs at least 2.")
    generated = generate_for_captions(generator, embeddings[rows], config.model.noise_dim,
                                      max(1, num_per_caption if "diversity" in metrics else 1), seed)
    first = generated[:, 0]
    real = real_images(prepared, rows, size)
    real_unique = real[~prepared.captions.loc[rows, "image"].duplicated().to_numpy()]
    results: dict[str, MetricResult] = {}
    scorer = None
    if "fid" in metrics or "inception_score" in metrics:
        from t2ilib.metrics.inception import InceptionScorer

        scorer = InceptionScorer(weights, batch_size=batch_size)
    if "fid" in metrics:
        from t2ilib.metrics.fid import fid

        results["fid"] = fid(real_unique, first, scorer=scorer)
    if "inception_score" in metrics:
        from t2ilib.metrics.inception_score import inception_score

        results["inception_score"] = inception_score(first, scorer=scorer, seed=seed)
        results["real_inception_score"] = inception_score(real_unique, scorer=scorer, seed=seed)
        results["real_inception_score"].name = "real_inception_score"
    if "r_precision" in metrics:
        from t2ilib.metrics.rprecision import r_precision
        from t2ilib.training.judge import dual_encoder_for, judge_embeddings, judge_groups

        dual = dual_encoder_for(config, epochs=dual_encoder_epochs)
        judged = judge_embeddings(config, prepared.captions.loc[rows, "caption"].tolist(), dual)
        groups = judge_groups(prepared, rows)  # the image, or on shapes its four attributes
        results["r_precision"] = r_precision(dual, first, judged, groups, seed=seed)
        results["real_r_precision"] = r_precision(dual, real, judged, groups, seed=seed)
        results["real_r_precision"].name = "real_r_precision"
    if "damsm_r_precision" in metrics:
        results.update(damsm_r_precisions(config, prepared, rows, first, real, weights, damsm_settings, seed))
    if "diversity" in metrics and generated.shape[1] >= 2:
        from t2ilib.metrics.diversity import diversity

        results["ms_ssim"] = diversity(generated)
    if "fidelity" in metrics and prepared.attributes is not None:
        from t2ilib.metrics.fidelity import chance_fidelity, shapes_fidelity

        scores = shapes_fidelity(first, prepared.attributes.loc[rows])
        results["fidelity"] = MetricResult("fidelity", scores["mean"], n=scores["n"], image_size=size,
                                           details={**{key: scores[key] for key in ("shape", "colour", "position",
                                                                                   "background")},
                                                    "chance": chance_fidelity()["mean"]})
    if write:
        (run_dir / "evaluation.json").write_text(json.dumps(
            {"split": split, "num_captions": int(len(rows)), "seed": seed, "checkpoint_dir": checkpoint_dir,
             "results": {name: result.to_dict() for name, result in results.items()}}, indent=2) + "\n")
    return results


def damsm_r_precisions(config, prepared, rows, generated, real, weights="imagenet", damsm_settings=None,
                       seed: int = 0) -> dict:
    """{"damsm_r_precision", "real_damsm_r_precision"}: the generated and the real images of caption
    rows `rows` scored by the dataset's DAMSM (`damsm_for`: pretrained once, then loaded)."""
    from t2ilib.training.damsm import DAMSMSettings, damsm_for, damsm_r_precision
    from t2ilib.training.judge import judge_groups

    settings = damsm_settings if damsm_settings is not None else DAMSMSettings(backbone_weights=weights)
    damsm = damsm_for(config, settings)
    captions = prepared.captions.loc[rows, "caption"].tolist()
    groups = judge_groups(prepared, rows)  # the image, or on shapes its four attributes
    return {"damsm_r_precision": damsm_r_precision(damsm, generated, captions, groups, seed=seed),
            "real_damsm_r_precision": damsm_r_precision(damsm, real, captions, groups, seed=seed,
                                                        name="real_damsm_r_precision")}


def results_table(results: dict):
    """A DataFrame, one row per metric: metric, value, std, n, image_size, weights."""
    import pandas as pd

    def weights(name, result):
        if result.weights is not None:
            return result.weights
        return "random (None)" if "fid" in name or "inception" in name else ""

    return pd.DataFrame([{"metric": name, "value": result.value, "std": result.std, "n": result.n,
                          "image_size": result.image_size, "weights": weights(name, result)}
                         for name, result in results.items()])


def caption_words(encoder, ids) -> list[str | None]:
    """The word each id of one caption's `ids` (a `TokenizerEncoder`'s) stands for: None for
    padding (id 0), "<unknown>" for a word outside the training vocabulary (id 1), else the
    vocabulary's word (lemmatised when the encoder lemmatises: what the model read)."""
    return [None if index == 0 else "<unknown>" if index == 1 else encoder.vocabulary[index - 2]
            for index in (int(round(float(value))) for value in np.asarray(ids).reshape(-1))]


def attention_maps(run_dir, caption: str, seed: int = 0, checkpoint_dir: str = "checkpoints") -> dict:
    """The word attention of an AttnGAN run for one `caption`, with one seeded noise vector:

    images: uint8 (S_k, S_k, 3) of every stage k (first stage first);
    words: the caption's words as the model read them (`caption_words`, padding left out);
    maps: per later stage, float32 (n_words, s, s): for each region of the features that stage
        attends from (s x s, the previous stage's size), its attention over the words, a softmax
        over the caption's words (padding masked out), so it sums to 1 over the words;
    sizes: the image size of each stage.
    """
    from t2ilib.config import ATTNGAN_FAMILY
    from t2ilib.models.sampling import seeded_noise
    from t2ilib.training.gan import load_run_config
    from t2ilib.training.stage1 import load_generator
    from t2ilib.viz import to_uint8

    family = load_run_config(Path(run_dir), checkpoint_dir).model.family  # before building anything
    if family != ATTNGAN_FAMILY:
        raise ValueError(f"{run_dir} is a model.family = {family!r} run: only AttnGAN runs (model.family = "
                         "'attngan') attend over words; train one with --set model.family=attngan.")
    if not caption.strip():
        raise ValueError("The caption is empty: give the words to draw the attention of.")
    sampler, encoder, config = load_generator(Path(run_dir), checkpoint_dir=checkpoint_dir)
    ids = encoder.encode([caption])
    words = [word for word in caption_words(encoder, ids[0]) if word is not None]
    if not words:
        raise ValueError(f"The caption {caption!r} has no words the model reads (after cleaning).")
    noise = seeded_noise(seed, (1, config.model.noise_dim))
    images, _, _, attentions, mask = sampler.stage_outputs(ids.astype(np.float32), noise, training=False)
    kept = np.asarray(mask)[0].astype(bool)  # the text encoder's word order: the words first, in caption order
    if int(kept.sum()) != len(words):
        raise RuntimeError(f"The text encoder marks {int(kept.sum())} words of {caption!r}, the tokenizer {len(words)}.")
    maps = []
    for attention in attentions:
        values = np.asarray(attention, dtype=np.float32)[0]  # (s * s, T)
        side = int(round(np.sqrt(values.shape[0])))
        maps.append(values[:, kept].T.reshape(-1, side, side))
    return {"caption": caption, "words": [word for word in words if word is not None],
            "images": [to_uint8(np.asarray(image)[0]) for image in images],
            "sizes": [int(image.shape[1]) for image in images], "maps": maps, "seed": seed}
