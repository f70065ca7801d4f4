"""Command line: python -m t2ilib quickstart | prepare | embed | train | sample | attention | ...

Every step takes paths and a preset (or a config.json), never hidden globals:

    python -m t2ilib quickstart                       # built-in shapes dataset, CPU, a few minutes
    python -m t2ilib prepare --preset colab --data-dir /content/drive/MyDrive/t2ilib
    python -m t2ilib embed   --preset colab --data-dir /content/drive/MyDrive/t2ilib
    python -m t2ilib train   --preset colab --data-dir ... --run-dir /content/drive/MyDrive/t2ilib/runs/stage1
    python -m t2ilib sample  --run-dir runs/quickstart --caption "a red circle at the top on a black background"
    python -m t2ilib train-stage2 --stage1-run-dir runs/quickstart --run-dir runs/quickstart_stage2
    python -m t2ilib vae-train report2 --run-dir runs/vae_report2      # the GloVe VAE report's model 2
    python -m t2ilib vae-compare report2=runs/vae_report2 improved=runs/vae_improved --output-dir runs/vae_comparison
    python -m t2ilib retrieval --encoders word2vec,onehot,tokenizer   # caption retrieval recall@k per encoder
    python -m t2ilib feature-baseline --text-run-dir runs/quickstart --feature-run-dir runs/quickstart_xception --output-dir runs/xception_baseline
    python -m t2ilib sweep --preset tiny --sweep-dir runs/sweep --factor learning_rate=2e-4,1e-3
    python -m t2ilib evaluate --run-dir runs/quickstart --weights none --num-images 100
    python -m t2ilib train --preset quickstart-attngan --run-dir runs/attngan          # AttnGAN (+ its DAMSM)
    python -m t2ilib attention --run-dir runs/attngan --caption "a red circle at the top on a black background"
    python -m t2ilib storage /content/drive/MyDrive/t2ilib            # what takes space, what can be deleted
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
import time
from pathlib import Path

from t2ilib.errors import CheckpointWriteError, TrainingDiverged


def _count(minimum: int):
    """An argparse type: an integer >= minimum (a usage error, exit 2, otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is not allowed; give a whole number >= {minimum}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not allowed; give a finite number > 0")
    return value


def _quiet_tensorflow():
    # Only the log level: TensorFlow's oneDNN CPU kernels stay on (switching them off made every
    # CLI run about 2x slower than the same training called from Python).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _config_from_args(args):
    from t2ilib.config import RunConfig, preset

    config = RunConfig.load(args.config) if getattr(args, "config", None) else preset(args.preset)
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data.data_dir"] = args.data_dir
    if getattr(args, "dataset", None):
        overrides["data.dataset"] = args.dataset
    if getattr(args, "epochs", None) is not None:
        overrides["train.epochs"] = args.epochs
    for item in getattr(args, "set", None) or []:
        key, value = config.parse_setting(item)  # text for string settings, else JSON: 32, 2e-4, true, null
        overrides[key] = value
    config = config.replace(**overrides) if overrides else config
    return config.validate()  # every setting checked before any command starts


def _add_config_arguments(parser, default_preset="quickstart"):
    from t2ilib.config import PRESETS

    parser.add_argument("--preset", default=default_preset, choices=PRESETS, help="settings preset (default: %(default)s)")
    parser.add_argument("--config", help="a config.json to use instead of a preset")
    parser.add_argument("--data-dir", help="folder for datasets, caches and embeddings (default: ./t2ilib_data)")
    parser.add_argument("--dataset", help="'shapes' (built-in), 'flickr8k', or a path to a Flickr8k-format folder")
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                        help="override one setting, e.g. --set train.batch_size=32 (repeatable)")


def cmd_prepare(args):
    from t2ilib.data.prepare import prepare_data

    config = _config_from_args(args)
    prepared = prepare_data(config.data)
    counts = prepared.captions["split"].value_counts()
    print(f"Dataset {prepared.root}: {len(prepared.captions)} captions of {prepared.captions['image'].nunique()} images.")
    print("Split: " + ", ".join(f"{name} {counts.get(name, 0)}" for name in ("train", "validation", "test")))
    print(f"Split CSVs: {prepared.work_dir / 'splits'}; image cache: {prepared.cache.path} {prepared.cache.array.shape}")


def cmd_embed(args):
    from t2ilib.data.prepare import prepare_data
    from t2ilib.training.stage1 import embed_all_captions

    config = _config_from_args(args)
    prepared = prepare_data(config.data)
    encoder, embeddings = embed_all_captions(config, prepared)
    print(f"Embedded {len(embeddings)} captions with {encoder.cache_key()}: {embeddings.shape[1]} dimensions, "
          f"cached in {prepared.work_dir / 'embeddings'}.")


def cmd_train(args):
    from t2ilib.training.stage1 import summarize, train_stage1

    config = _config_from_args(args)
    run_dir = Path(args.run_dir or Path("runs") / config.name)
    started = time.time()
    metrics = train_stage1(config, run_dir, verbose=args.verbose, allow_config_change=args.allow_config_change)
    print(f"\nRun directory: {run_dir}  ({time.time() - started:.0f} s)")
    print(f"  samples: {run_dir / 'samples'}   losses: {run_dir / 'loss_curves.png'}   metrics: {run_dir / 'metrics.json'}")
    print(summarize(metrics))
    return metrics


def cmd_quickstart(args):
    args.preset = args.preset or "quickstart"
    config = _config_from_args(args)
    model = {"dfgan": "DF-GAN", "stackgan": "StackGAN Stage-I", "attngan": "AttnGAN"}.get(config.model.family, config.model.family)
    print(f"t2ilib quickstart: built-in shapes dataset -> splits -> {config.text.encoder} embeddings -> {model} "
          "on the CPU (preset quickstart-stackgan: StackGAN Stage-I).")
    cmd_train(args)


def cmd_sample(args):
    from t2ilib.training.checkpoints import check_writable
    from t2ilib.training.stage1 import generate
    from t2ilib.viz import save_sample_grid

    captions = args.caption or ["a red circle at the top on a black background",
                                "a blue square in the middle on a white background",
                                "a yellow triangle at the bottom on a gray background"]
    out = Path(args.out or Path(args.run_dir) / "samples" / "sample.png")
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; give the path of the PNG file to write.")
    if Path(args.run_dir).is_dir():  # (a wrong run directory is reported by generate)
        check_writable(out.parent)  # before minutes of generating, not after
    images = generate(args.run_dir, captions, num_per_caption=args.num, seed=args.seed)
    save_sample_grid(images, captions, out)
    print(f"Wrote {out} ({len(captions)} captions x {args.num} samples).")


def cmd_train_stage2(args):
    from t2ilib.training.stage2 import summarize, train_stage2

    config = _config_from_args(args)
    run_dir = Path(args.run_dir or Path("runs") / f"{config.name}_stage2")
    metrics = train_stage2(config, run_dir, args.stage1_run_dir, verbose=args.verbose,
                           allow_config_change=args.allow_config_change)
    print(f"\nRun directory: {run_dir}")
    print(summarize(metrics))


def cmd_vae_train(args):
    from t2ilib.training.vae import VAEConfig, train_vae

    settings = {key: value for key, value in dict(
        dataset=args.dataset, data_dir=args.data_dir, glove_path=args.glove_path, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate).items() if value is not None}
    metrics = train_vae(args.model, args.run_dir, VAEConfig(**settings), verbose=args.verbose)
    print(json.dumps({key: value for key, value in metrics.items() if not isinstance(value, (dict, list))}, indent=2))


def cmd_vae_compare(args):
    from t2ilib.training.vae import compare_vaes

    run_dirs = {}
    for item in args.runs:
        label, _, path = item.partition("=")
        if not path:
            raise ValueError(f"{item!r}: write each run as LABEL=RUN_DIR, e.g. report2=runs/vae_report2.")
        run_dirs[label] = path
    table = compare_vaes(run_dirs, args.output_dir)
    print(table.to_string(index=False))
    print(f"Wrote {Path(args.output_dir) / 'comparison.csv'} and {Path(args.output_dir) / 'comparison.png'}.")


def cmd_retrieval(args):
    import pandas as pd

    from t2ilib.data.prepare import prepare_data
    from t2ilib.text import make_encoder, retrieval_captions, retrieval_table

    config = _config_from_args(args)
    prepared = prepare_data(config.data, progress=False)
    training_captions = prepared.split("train")["caption"].tolist()
    names = [name.strip() for name in args.encoders.split(",") if name.strip()]
    encoders = {name: make_encoder(config.replace(**{"text.encoder": name}).text, training_captions, prepared.work_dir)
                for name in names}
    gallery = retrieval_captions(prepared, split=args.split, max_images=args.max_images, seed=args.seed, group=args.group)
    table = retrieval_table(encoders, gallery, cache_dir=prepared.work_dir / "embeddings")
    print(f"Caption retrieval on {gallery['image'].nunique()} images of the {args.split} split "
          f"({len(gallery)} captions, {gallery['group'].nunique()} groups, seed {args.seed}):")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(3).to_string())
    if args.csv:
        table.to_csv(args.csv)
        print(f"Table: {args.csv}")
    return 0


def cmd_feature_baseline(args):
    from t2ilib.features import MapperConfig
    from t2ilib.training.feature_baseline import run_feature_baseline, summarize_baseline

    config = _config_from_args(args)
    weights = None if args.feature_weights.lower() in ("none", "random") else args.feature_weights
    mapper_config = MapperConfig(**({"epochs": args.mapper_epochs} if args.mapper_epochs is not None else {}))
    result = run_feature_baseline(config, args.text_run_dir, args.feature_run_dir, args.output_dir,
                                  feature_weights=weights, feature_input_size=args.feature_input_size,
                                  mapper_config=mapper_config, verbose=args.verbose)
    print(summarize_baseline(result["mapper"], result["table"], weights))
    print(f"Wrote {Path(args.output_dir) / 'comparison.png'}, reconstructions.png, comparison.csv and comparison.json.")


def _parse_value(text: str):
    try:
        return json.loads(text)  # numbers, true/false
    except json.JSONDecodeError:
        return text  # plain strings: adam, leaky_relu


def cmd_sweep(args):
    from t2ilib.sweeps import SweepSpec, default_sweep, run_sweep

    config = _config_from_args(args)
    spec = default_sweep(config)
    factors, baseline = dict(spec.factors) if not args.factor else {}, {}
    for item in args.factor or []:
        key, _, values = item.partition("=")
        if not values:
            raise ValueError(f"{item!r}: write a factor as NAME=V1,V2,..., e.g. learning_rate=2e-4,1e-3.")
        factors[key] = [_parse_value(value) for value in values.split(",")]
    for item in args.baseline or []:
        key, _, value = item.partition("=")
        baseline[key] = _parse_value(value)
    if not args.factor:  # the default grid: its baseline, with any --baseline given on top
        baseline = {**spec.baseline, **baseline}
    spec = SweepSpec(config, factors, mode=args.mode, baseline=baseline)
    print(f"Sweep ({spec.mode}): {len(spec.variants())} variants in {args.sweep_dir}/runs")
    table = run_sweep(spec, args.sweep_dir, verbose=args.verbose, num_captions=args.num_captions,
                      num_noise=args.num_noise)
    print(table.to_string(index=False))
    print(f"Wrote {Path(args.sweep_dir) / 'results.csv'}, results.md, comparisons/*.png and curves/*.png.")


def cmd_evaluate(args):
    from t2ilib.evaluation import evaluate_run, results_table
    from t2ilib.training.checkpoints import check_writable

    if Path(args.run_dir).is_dir():  # evaluation.json goes there; (a wrong run directory is reported below)
        check_writable(args.run_dir)
    weights = None if args.weights.lower() == "none" else args.weights
    metrics = args.metrics.split(",") if args.metrics else None
    kwargs = {"metrics": metrics} if metrics else {}
    if args.damsm_set:  # the DAMSM behind damsm_r_precision (default: the official settings, backbone --weights)
        from t2ilib.training.damsm import DAMSMSettings, damsm_settings_from

        if "damsm_r_precision" not in (metrics or ()):
            raise ValueError("--damsm-set sets the DAMSM of damsm_r_precision: add --metrics damsm_r_precision.")
        kwargs["damsm_settings"] = damsm_settings_from(args.damsm_set, DAMSMSettings(backbone_weights=weights))
    results = evaluate_run(args.run_dir, split=args.split, num_images=args.num_images, weights=weights,
                           checkpoint_dir=args.checkpoint_dir, **kwargs)
    print(results_table(results).to_string(index=False))
    if weights is None and ({"fid", "inception_score"} & set(results)):
        print("Note: FID / Inception Score with random Inception weights (--weights none) are a pipeline check only.")
    if "damsm_r_precision" in results and results["damsm_r_precision"].details.get("damsm_backbone") is None:
        print("Note: damsm_r_precision with a random DAMSM backbone is a pipeline check, not comparable with papers.")
    print(f"Wrote {Path(args.run_dir) / 'evaluation.json'}.")


def cmd_attention(args):
    from t2ilib.evaluation import attention_maps
    from t2ilib.training.checkpoints import check_writable
    from t2ilib.viz import save_attention_figure

    out = Path(args.out or Path(args.run_dir) / "samples" / "attention.png")
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; give the path of the PNG file to write.")
    if Path(args.run_dir).is_dir():  # (a wrong run directory is reported by attention_maps)
        check_writable(out.parent)
    attention = attention_maps(args.run_dir, args.caption, seed=args.seed, checkpoint_dir=args.checkpoint_dir)
    save_attention_figure(attention, out)
    print(f"Wrote {out}: {len(attention['maps'])} attention stage(s) x {len(attention['words'])} words "
          f"({' '.join(attention['words'])}).")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m t2ilib", description="t2ilib: text-to-image course kit. Add "
                                     "--debug anywhere to see the traceback of an error.")
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser("quickstart", help="prepare, embed and train DF-GAN on the built-in dataset")
    _add_config_arguments(quick)
    quick.add_argument("--run-dir", default="runs/quickstart", help="run directory (default: %(default)s)")
    quick.add_argument("--epochs", type=_count(0), help="override the number of epochs")
    quick.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0 silent, 1 progress bar, 2 one line per epoch")
    quick.add_argument("--allow-config-change", action="store_true", help="resume even if settings changed")
    quick.set_defaults(func=cmd_quickstart)

    prepare = commands.add_parser("prepare", help="read the dataset, write split CSVs, build the image cache")
    _add_config_arguments(prepare)
    prepare.set_defaults(func=cmd_prepare)

    embed = commands.add_parser("embed", help="embed every caption with the configured text encoder (cached)")
    _add_config_arguments(embed)
    embed.set_defaults(func=cmd_embed)

    train = commands.add_parser("train", help="train (or resume) a GAN into a run directory (model.family: stackgan "
                                              "Stage-I, dfgan, attngan)")
    _add_config_arguments(train)
    train.add_argument("--run-dir", help="run directory (default: runs/<config name>); resumes if it has checkpoints")
    train.add_argument("--epochs", type=_count(0), help="override the number of epochs")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0 silent, 1 progress bar, 2 one line per epoch")
    train.add_argument("--allow-config-change", action="store_true", help="resume even if settings changed")
    train.set_defaults(func=cmd_train)

    sample = commands.add_parser("sample", help="generate images for captions from a trained run directory")
    sample.add_argument("--run-dir", required=True)
    sample.add_argument("--caption", action="append", help="a caption (repeatable)")
    sample.add_argument("--num", type=_count(1), default=4, help="images per caption")
    sample.add_argument("--seed", type=_count(0), default=0)
    sample.add_argument("--out", help="output PNG (default: <run-dir>/samples/sample.png)")
    sample.set_defaults(func=cmd_sample)

    stage2 = commands.add_parser("train-stage2", help="train (or resume) Stage-II on top of a finished Stage-I run")
    _add_config_arguments(stage2)
    stage2.add_argument("--stage1-run-dir", required=True, help="the Stage-I run directory to refine")
    stage2.add_argument("--run-dir", help="Stage-II run directory (default: runs/<config name>_stage2)")
    stage2.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    stage2.add_argument("--allow-config-change", action="store_true")
    stage2.set_defaults(func=cmd_train_stage2)

    vae_train = commands.add_parser("vae-train", help="train (or resume) one of the GloVe VAE models")
    vae_train.add_argument("model", choices=["report1", "report2", "report3", "improved"])
    vae_train.add_argument("--run-dir", required=True)
    vae_train.add_argument("--dataset", help="'shapes' (default), 'flickr8k' or a Flickr8k-format folder")
    vae_train.add_argument("--data-dir", help="folder for datasets and caches (default: ./t2ilib_data)")
    vae_train.add_argument("--glove-path", help="glove.6B.50d.txt (default on shapes: a Word2Vec stand-in)")
    vae_train.add_argument("--epochs", type=_count(0))
    vae_train.add_argument("--batch-size", type=_count(1))
    vae_train.add_argument("--learning-rate", type=_positive_number)
    vae_train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    vae_train.set_defaults(func=cmd_vae_train)

    vae_compare = commands.add_parser("vae-compare", help="one figure and one table for several VAE run directories")
    vae_compare.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    vae_compare.add_argument("--output-dir", required=True)
    vae_compare.set_defaults(func=cmd_vae_compare)

    retrieval = commands.add_parser("retrieval", help="rank text encoders by caption retrieval recall@1/5/10")
    _add_config_arguments(retrieval)
    retrieval.add_argument("--encoders", default="word2vec,onehot,tokenizer",
                           help="comma-separated text.encoder names (default: %(default)s)")
    retrieval.add_argument("--split", default="validation", help="split whose images form the gallery")
    retrieval.add_argument("--max-images", type=_count(1), help="draw this many images of the split (seeded)")
    retrieval.add_argument("--seed", type=_count(0), default=0)
    retrieval.add_argument("--group", choices=["image", "attributes"],
                           help="what counts as the same scene (default: attributes on shapes, else image)")
    retrieval.add_argument("--csv", help="also write the table to this CSV file")
    retrieval.set_defaults(func=cmd_retrieval)

    baseline = commands.add_parser("feature-baseline", help="the Xception feature baseline against a text-conditioned "
                                                            "Stage-I (trains or resumes both runs, then compares)")
    _add_config_arguments(baseline)
    baseline.add_argument("--text-run-dir", required=True, help="the text-conditioned Stage-I run (trained or resumed)")
    baseline.add_argument("--feature-run-dir", required=True, help="the Xception-feature-conditioned Stage-I run")
    baseline.add_argument("--output-dir", required=True, help="mapper/, comparison.png, comparison.csv, ...")
    baseline.add_argument("--feature-weights", default="imagenet",
                          help="'imagenet' (default), 'none' (random weights: offline pipeline check) or a weights file")
    baseline.add_argument("--feature-input-size", type=_count(71), default=299, help="Xception input side (>= 71)")
    baseline.add_argument("--mapper-epochs", type=_count(1), help="epochs of the text-to-feature mapper (default 40)")
    baseline.add_argument("--epochs", type=_count(0), help="override the number of epochs of both Stage-I runs")
    baseline.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0)
    baseline.set_defaults(func=cmd_feature_baseline)


    sweep = commands.add_parser("sweep", help="train a grid of Stage-I variants and compare them")
    _add_config_arguments(sweep)
    sweep.add_argument("--sweep-dir", default="runs/sweep", help="folder for the runs and figures (default: %(default)s)")
    sweep.add_argument("--factor", action="append", metavar="NAME=V1,V2",
                       help="a factor and its values (repeatable): encoder, batch_size, optimizer, learning_rate, "
                            "last_activation, epochs. Default: the report's grid on Flickr8k, a small one on shapes")
    sweep.add_argument("--baseline", action="append", metavar="NAME=VALUE", help="baseline value of a factor")
    sweep.add_argument("--mode", default="one_at_a_time", choices=["one_at_a_time", "grid"])
    sweep.add_argument("--epochs", type=_count(0), help="override the number of epochs of the base config")
    sweep.add_argument("--num-captions", type=_count(1), default=4, help="rows of the comparison figures")
    sweep.add_argument("--num-noise", type=_count(1), default=1, help="noise vectors per caption and variant")
    sweep.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0)
    sweep.set_defaults(func=cmd_sweep)

    evaluate = commands.add_parser("evaluate", help="FID, IS, R-precision, diversity and fidelity of a run directory")
    evaluate.add_argument("--run-dir", required=True)
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--num-images", type=_count(1), help="captions of the split to use (default: all)")
    evaluate.add_argument("--weights", default="imagenet", help="'imagenet' or 'none' (random: pipeline check only)")
    evaluate.add_argument("--metrics", help="comma-separated subset of fid,inception_score,r_precision,diversity,fidelity"
                          " (the default), or damsm_r_precision (R-precision by a DAMSM pretrained on the run's data)")
    evaluate.add_argument("--damsm-set", action="append", metavar="KEY=VALUE",
                          help="a DAMSMSettings value for damsm_r_precision, e.g. --damsm-set epochs=50 (repeatable)")
    evaluate.add_argument("--checkpoint-dir", default="checkpoints", help="'checkpoints' (latest) or 'best'")
    evaluate.set_defaults(func=cmd_evaluate)

    attention = commands.add_parser("attention", help="an AttnGAN run's images and word-attention maps for a caption")
    attention.add_argument("--run-dir", required=True, help="an AttnGAN run directory (model.family attngan)")
    attention.add_argument("--caption", required=True, help="the caption to draw")
    attention.add_argument("--seed", type=_count(0), default=0, help="seed of the noise vector")
    attention.add_argument("--out", help="output PNG (default: <run-dir>/samples/attention.png)")
    attention.add_argument("--checkpoint-dir", default="checkpoints", help="'checkpoints' (latest) or 'best'")
    attention.set_defaults(func=cmd_attention)

    storage = commands.add_parser("storage", help="what takes space in a data folder and its runs, and what can be "
                                                  "deleted and rebuilt")
    storage.add_argument("folders", nargs="+", metavar="DATA_DIR", help="data folder(s) and/or run folder(s)")
    storage.add_argument("--json", action="store_true", help="print every item as JSON instead of the table")
    storage.set_defaults(func=cmd_storage)
    return parser


def cmd_storage(args) -> int:
    """Sizes by group (zips, images, caches, runs, ...) under the folders given; TensorFlow-free."""
    from t2ilib.storage import format_report, storage_report

    items = storage_report(*args.folders)
    if args.json:
        print(json.dumps([item.to_dict() for item in items], indent=2))
    else:
        print(format_report(items))
    return 0


USAGE_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError)


def explain(error: BaseException, command: str | None = None) -> tuple[str, int]:
    """(one-paragraph message, exit code) for an error a command stopped with: 2 for usage
    errors (a setting, an argument, a path that is wrong), 1 for failures (a diverged run, a
    full or read-only disk, unreadable checkpoints, no network)."""
    text = " ".join(str(error).split()) or type(error).__name__
    if len(text) > 1500:
        text = text[:1500] + " ..."
    if isinstance(error, (TrainingDiverged, CheckpointWriteError)):
        return text, 1
    if isinstance(error, PermissionError) or getattr(error, "errno", None) in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"{text} Check that the folder exists and that you can write to it (on Colab: is Drive mounted?), or "
                "choose another folder."), 1
    if isinstance(error, USAGE_ERRORS):
        return text, 2
    if "url fetch failure" in text.lower() or "urlopen error" in text.lower():
        offline = {"evaluate": "--weights none (random Inception weights: a pipeline check only)",
                   "feature-baseline": "--feature-weights none (random Xception weights)"}.get(
                       command, "settings that need no download (the offline defaults)")
        return (f"Could not download pretrained weights ({text}). Without internet, use {offline}; or download the "
                "weights where you have internet and run again."), 1
    if isinstance(error, OSError):
        return f"{text} (a file or folder could not be read or written).", 1
    if isinstance(error, RuntimeError):
        return text, 1
    return (f"{type(error).__name__}: {text}. This is unexpected: run the same command with --debug for the "
            "traceback, and report it."), 1


def main(argv=None) -> int:
    """Run one command. Errors are printed as one paragraph (`explain`) with exit code 2 (usage)
    or 1 (failure); `--debug` (anywhere on the line) shows the traceback instead."""
    _quiet_tensorflow()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for noisy in ("gensim", "sentence_transformers", "tensorflow", "absl", "h5py", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    args = build_parser().parse_args([item for item in argv if item != "--debug"])
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted: re-run the same command to continue from the last checkpoint.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  (every failure becomes one clear paragraph)
        if debug:
            raise
        message, code = explain(error, args.command)
        print(f"error: {message}", file=sys.stderr)
        return code
    return result if isinstance(result, int) else 0
