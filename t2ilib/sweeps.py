"""Sweeps: train a grid of Stage-I variants, then compare them side by side.

    spec = default_sweep(preset("tiny").replace(**{"data.data_dir": "t2ilib_data"}))
    table = run_sweep(spec, "runs/sweep")        # CLI: python -m t2ilib sweep --preset tiny

A sweep varies some of these factors of a base config (`FACTORS`: name -> config key):
text encoder, batch size, optimizer, learning rate, last activation, epochs. Two modes:

- "one_at_a_time" (the StackGAN+BERT report's appendices D/E): a baseline, plus one variant per
  other value of each factor with everything else at the baseline;
- "grid": every combination.

Each variant trains into `sweep_dir/runs/<name>`, the name built from its values
(`enc-word2vec_bs-128_opt-adam_lr-0.0002_act-leaky_relu_ep-490`). A variant whose run
directory has metrics.json with the epochs reached is skipped, so re-running a sweep (after a
Colab reset) continues where it stopped. Variants that differ only in epochs share their
training: the longer one starts from a copy of the shorter one's run (0 -> 390 -> 480 -> 490
costs 490 epochs, not 1,360).

Then, in `sweep_dir`:
- `comparisons/<factor>.png`: one figure per factor; rows are fixed test captions, columns the
  variants, every cell drawn with the same noise;
- `curves/<factor>.png`: losses (and fidelity) of those variants overlaid, from history.csv;
- `results.csv` and `results.md`: one row per variant with its values and metrics.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from t2ilib.config import RunConfig

logger = logging.getLogger("t2ilib")

FACTORS = {"encoder": "text.encoder", "batch_size": "train.batch_size", "optimizer": "train.optimizer",
           "learning_rate": "train.learning_rate", "last_activation": "model.last_activation",
           "epochs": "train.epochs"}
SHORT_NAMES = {"encoder": "enc", "batch_size": "bs", "optimizer": "opt", "learning_rate": "lr",
               "last_activation": "act", "epochs": "ep"}

# The StackGAN+BERT report (seed 000, section 4 and appendices D/E): each factor varied around
# BERT / batch 128 / Adam 2e-4 / LeakyReLU; epochs 0, 390, 480, 490 (flat images from ~490 on).
# Its four caption representations: the simple tokenizer, one-hot, skip-thought vectors (here the
# Universal Sentence Encoder from TF-Hub, their maintained successor) and BERT (sentence-transformers,
# the base config's model_name). Only names the kit offers (t2ilib.text.ENCODERS) are used.
REPORT_FACTORS = {"encoder": ["tokenizer", "onehot", "tfhub", "sentence-transformers"],
                  "batch_size": [32, 64, 128, 512], "optimizer": ["adadelta", "rmsprop", "adam"],
                  "learning_rate": [2e-5, 1e-4, 2e-4, 2e-3], "last_activation": ["relu", "selu", "leaky_relu"],
                  "epochs": [0, 390, 480, 490]}
REPORT_BASELINE = {"encoder": "sentence-transformers", "batch_size": 128, "optimizer": "adam",
                   "learning_rate": 2e-4, "last_activation": "leaky_relu", "epochs": 490}
# On the built-in shapes dataset: a small grid around the base config (minutes on a CPU).
SHAPES_FACTORS = {"learning_rate": [2e-4, 1e-3], "last_activation": ["relu", "leaky_relu"]}


@dataclass
class Variant:
    """One run of a sweep: its factor values and the run directory name made from them."""

    values: dict
    factor: str | None = None  # one_at_a_time: the factor this variant changes (None: the baseline)

    @property
    def name(self) -> str:
        return "_".join(f"{SHORT_NAMES.get(key, key)}-{_format(value)}" for key, value in self.values.items())

    def label(self, factor: str | None = None) -> str:
        if factor is None:
            return ", ".join(f"{key}={_format(value)}" for key, value in self.values.items())
        return f"{factor}={_format(self.values[factor])}"

    def config(self, base: RunConfig) -> RunConfig:
        return base.replace(**{FACTORS[key]: value for key, value in self.values.items()}, name=self.name)


@dataclass
class SweepSpec:
    """A base config, the factors with their values, the mode, and the baseline values."""

    base: RunConfig
    factors: dict
    mode: str = "one_at_a_time"
    baseline: dict = field(default_factory=dict)  # one_at_a_time; default: the base config's values

    def __post_init__(self):
        unknown = set(self.factors) - set(FACTORS)
        if unknown:
            raise ValueError(f"Unknown sweep factors {sorted(unknown)}; choose from {', '.join(FACTORS)}.")
        if self.mode not in ("one_at_a_time", "grid"):
            raise ValueError(f"Unknown sweep mode {self.mode!r}; choose one_at_a_time or grid.")
        self.factors = {key: list(values) for key, values in self.factors.items() if len(values)}
        base_values = {key: _config_value(self.base, key) for key in self.factors}
        if self.mode == "grid":
            base_values = {key: values[0] for key, values in self.factors.items()}
        self.baseline = {key: self.baseline.get(key, base_values[key]) for key in self.factors}

    def variants(self) -> list[Variant]:
        """Every variant, shorter-epoch variants first (so longer ones can start from them)."""
        if self.mode == "grid":
            variants = [Variant(dict(zip(self.factors, values))) for values in itertools.product(*self.factors.values())]
        else:
            variants = [Variant(dict(self.baseline))]
            for key, values in self.factors.items():
                for value in values:
                    if value != self.baseline[key]:
                        variants.append(Variant({**self.baseline, key: value}, factor=key))
        return sorted(variants, key=lambda variant: variant.values.get("epochs", 0))

    def variants_of(self, factor: str) -> list[Variant]:
        """The variants a figure for `factor` compares: that factor varies, the others are at the baseline."""
        chosen = [variant for variant in self.variants()
                  if all(variant.values[key] == self.baseline[key] for key in self.factors if key != factor)]
        order = {value: position for position, value in enumerate(self.factors[factor])}
        return sorted(chosen, key=lambda variant: order.get(variant.values[factor], len(order)))

    def to_dict(self) -> dict:
        return {"mode": self.mode, "factors": self.factors, "baseline": self.baseline, "base": self.base.to_dict()}


def _format(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _config_value(config: RunConfig, factor: str):
    section, _, key = FACTORS[factor].partition(".")
    return getattr(getattr(config, section), key)


def default_sweep(base: RunConfig) -> SweepSpec:
    """The report's one-at-a-time grid on Flickr8k (or any non-shapes dataset), a small grid on shapes."""
    if base.data.dataset == "shapes":
        return SweepSpec(base, SHAPES_FACTORS, baseline={"learning_rate": base.train.learning_rate,
                                                         "last_activation": base.model.last_activation})
    from t2ilib.text import ENCODERS

    factors = dict(REPORT_FACTORS)
    factors["encoder"] = [name for name in REPORT_FACTORS["encoder"] if name in ENCODERS]
    return SweepSpec(base, factors, baseline=dict(REPORT_BASELINE))


def estimated_epochs(spec: SweepSpec) -> int:
    """Epochs a sweep trains from scratch: variants that differ only in epochs continue one another
    (see `_warm_start`), so each such chain costs its longest member. With a measured epochs/hour
    this is the sweep's cost, to print before it starts."""
    longest = {}
    for variant in spec.variants():
        config = variant.config(spec.base)
        chain = tuple(sorted((key, _format(value)) for key, value in variant.values.items() if key != "epochs"))
        longest[chain] = max(longest.get(chain, 0), config.train.epochs)
    return sum(longest.values())


def is_finished(run_dir, epochs: int) -> bool:
    """metrics.json is there and says the run reached `epochs`."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return False
    try:
        return int(json.loads(path.read_text()).get("epochs_trained", -1)) >= epochs
    except (ValueError, json.JSONDecodeError):
        return False


def _warm_start(spec: SweepSpec, variant: Variant, runs_dir: Path) -> Path | None:
    """Copy the finished run of the same variant with the most epochs below this one's into
    its (new) run directory; returns the source, or None."""
    if "epochs" not in variant.values:
        return None
    target = runs_dir / variant.name
    if (target / "checkpoints").exists():
        return None
    shorter = [other for other in spec.variants()
               if other.values["epochs"] < variant.values["epochs"]
               and all(other.values[key] == value for key, value in variant.values.items() if key != "epochs")
               and is_finished(runs_dir / other.name, other.values["epochs"])]
    if not shorter:
        return None
    source = runs_dir / max(shorter, key=lambda other: other.values["epochs"]).name
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "history.csv", "checkpoints", "samples", "best"):
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name, dirs_exist_ok=True)
        elif path.exists():
            shutil.copy2(path, target / name)
    return source


def run_sweep(spec: SweepSpec, sweep_dir, verbose: int = 0, num_captions: int = 4, num_noise: int = 1,
              seed: int = 0, train_fn=None):
    """Train every variant not yet finished, then draw the comparisons and write the results
    table. Returns the table (pandas DataFrame, one row per variant)."""
    from t2ilib.training.stage1 import summarize, train_stage1

    train_fn = train_fn or train_stage1
    sweep_dir = Path(sweep_dir)
    runs_dir = sweep_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.json").write_text(json.dumps(spec.to_dict(), indent=2, default=str) + "\n")
    variants = spec.variants()
    for variant in variants:  # every variant's settings checked before the first one trains
        variant.config(spec.base).validate()
    for number, variant in enumerate(variants, 1):
        run_dir = runs_dir / variant.name
        config = variant.config(spec.base)
        if is_finished(run_dir, config.train.epochs):
            print(f"[{number}/{len(variants)}] {variant.name}: finished, skipped.", flush=True)
            continue
        source = _warm_start(spec, variant, runs_dir)
        started = f" (continuing a copy of {source.name})" if source else ""
        print(f"[{number}/{len(variants)}] {variant.name}: training{started} ...", flush=True)
        metrics = train_fn(config, run_dir, verbose=verbose)
        print("    " + summarize(metrics).replace("\n", "\n    "), flush=True)
    images = compare_runs(spec, sweep_dir, num_captions=num_captions, num_noise=num_noise, seed=seed)
    return results_table(spec, sweep_dir, images)


def sample_captions(config: RunConfig, count: int) -> list[str]:
    """Fixed test captions of distinct images, the same for every variant."""
    from t2ilib.data.prepare import fixed_sample_rows, prepare_data

    prepared = prepare_data(config.data, progress=False)
    return prepared.captions.loc[fixed_sample_rows(prepared.captions, count), "caption"].tolist()


def compare_runs(spec: SweepSpec, sweep_dir, num_captions: int = 4, num_noise: int = 1, seed: int = 0) -> dict:
    """Draw comparisons/<factor>.png and curves/<factor>.png; returns {variant name: uint8
    images (num_captions, num_noise, S, S, 3)} generated with the same captions and noise."""
    from t2ilib.models.sampling import sample_grid
    from t2ilib.training.stage1 import load_generator
    from t2ilib.viz import plot_overlaid_histories, save_sample_grid

    sweep_dir = Path(sweep_dir)
    captions = sample_captions(spec.base, num_captions)
    noise = np.random.default_rng(seed + 4242).standard_normal((num_noise, spec.base.model.noise_dim)).astype(np.float32)
    images = {}
    for variant in spec.variants():
        run_dir = sweep_dir / "runs" / variant.name
        if not (run_dir / "checkpoints").exists():
            logger.warning("Sweep variant %s has no checkpoint yet; left out of the comparisons.", variant.name)
            continue
        generator, encoder, _ = load_generator(run_dir)
        images[variant.name] = sample_grid(generator, encoder.encode(captions), noise)
    for factor in spec.factors:
        chosen = [variant for variant in spec.variants_of(factor) if variant.name in images]
        if not chosen:
            continue
        grid = np.concatenate([images[variant.name] for variant in chosen], axis=1)  # (C, V * num_noise, ...)
        labels = [variant.label(factor) if k == 0 else "" for variant in chosen for k in range(num_noise)]
        save_sample_grid(grid, captions, sweep_dir / "comparisons" / f"{factor}.png", column_labels=labels,
                         title=f"{factor}: same captions, same noise in every column "
                               f"(others: {_others(spec, factor)})")
        histories = {variant.label(factor): sweep_dir / "runs" / variant.name / "history.csv" for variant in chosen
                     if (sweep_dir / "runs" / variant.name / "history.csv").exists()}
        if histories:
            plot_overlaid_histories(histories, sweep_dir / "curves" / f"{factor}.png", title=f"losses by {factor}")
    return images


def _others(spec: SweepSpec, factor: str) -> str:
    return ", ".join(f"{key}={_format(value)}" for key, value in spec.baseline.items() if key != factor) or "-"


def results_table(spec: SweepSpec, sweep_dir, images: dict | None = None):
    """results.csv / results.md: per variant its values, epochs, last losses, spreads,
    collapse flag, shapes fidelity (built-in dataset) and MS-SSIM between its samples (when
    the comparisons used 2+ noise vectors)."""
    import pandas as pd

    from t2ilib.training.guards import COLLAPSE_SPREAD, FLAT_SPREAD

    sweep_dir = Path(sweep_dir)
    rows = []
    for variant in spec.variants():
        run_dir = sweep_dir / "runs" / variant.name
        row = {"variant": variant.name, "changed": variant.factor or ("baseline" if spec.mode == "one_at_a_time" else ""),
               **variant.values}
        metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
        row["epochs_trained"] = metrics.get("epochs_trained")
        history = pd.read_csv(run_dir / "history.csv") if (run_dir / "history.csv").exists() else pd.DataFrame()
        for column in ("d_loss", "g_loss", "caption_spread", "image_spread"):
            row[column] = float(history[column].iloc[-1]) if column in history and len(history) else None
        row["collapsed"] = None if row["caption_spread"] is None else bool(
            row["caption_spread"] < COLLAPSE_SPREAD or row["image_spread"] < FLAT_SPREAD)
        fidelity = metrics.get("fidelity")
        if fidelity:
            row["fidelity"] = fidelity["mean"]
            row["fidelity_mismatched"] = metrics["fidelity_mismatched_captions"]["mean"]
        if images and variant.name in images and images[variant.name].shape[1] >= 2:
            from t2ilib.metrics.diversity import diversity

            row["ms_ssim"] = diversity(images[variant.name]).value
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(sweep_dir / "results.csv", index=False)
    (sweep_dir / "results.md").write_text(markdown_table(table))
    return table


def markdown_table(table) -> str:
    """A pandas DataFrame as a GitHub markdown table (numbers to 4 significant digits)."""
    def cell(value):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
