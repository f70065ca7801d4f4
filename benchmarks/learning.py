"""Does a recipe learn to draw what its captions say, and how fast? (issue 14, item 6)

    python benchmarks/learning.py --preset quickstart-stackgan --seeds 0 1 2 [--set key=value ...]

For each preset x seed: trains with the kit's one training path (`train_stage1`; any model family
a preset names), then prints and appends to benchmarks/RESULTS.md (section "Learning") the shapes
fidelity per attribute, the mismatched-caption baseline, whether the margin is significant
(`follows_captions`), and the process's CPU minutes (user + sys: the figure that survives a
shared machine; an idle 2-core run uses ~2 CPU minutes per wall minute). Also writes
runs/learning/<preset>-s<seed>/fidelity_vs_minutes.png from history.csv and the CPU time
recorded at each epoch end, and one figure of all runs of this call in runs/learning/.

Runs on the built-in shapes data (the only dataset with attribute ground truth); `--set
data.dataset=...` works for speed figures but has no fidelity to report.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ATTRIBUTES = ("shape", "colour", "position", "background")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## Learning: fidelity per recipe (benchmarks/learning.py)"


def cpu_seconds() -> float:
    """User + sys CPU seconds of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def epoch_clock(path: Path, started: float):
    """A Keras callback writing (epoch, CPU minutes since `started`) to `path` at each epoch end."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            new = not path.exists()
            with open(path, "a") as handle:
                if new:
                    handle.write("epoch,cpu_minutes\n")
                handle.write(f"{epoch + 1},{(cpu_seconds() - started) / 60:.3f}\n")

    return EpochClock()


def parse_overrides(items) -> dict:
    overrides = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)  # numbers, true/false, null
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def fidelity_vs_minutes(run_dirs: list[Path], out: Path, title: str) -> None:
    """Mean shapes fidelity (history.csv) against CPU minutes (cpu_minutes.csv), one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    figure, axis = plt.subplots(figsize=(6, 4))
    for run_dir in run_dirs:
        history, clock = run_dir / "history.csv", run_dir / "cpu_minutes.csv"
        if not (history.exists() and clock.exists()):
            continue
        table = pd.read_csv(history).reset_index(drop=True)
        table["epoch"] = range(1, len(table) + 1)
        table = table.merge(pd.read_csv(clock), on="epoch")
        if "fidelity" in table:
            axis.plot(table["cpu_minutes"], table["fidelity"], marker=".", label=run_dir.name)
    axis.axhline(0.3333 * 3 / 4 + 0.25 / 4, color="gray", linestyle=":", label="chance")
    axis.set_xlabel("CPU minutes (user + sys)")
    axis.set_ylabel("shapes fidelity (mean of 4 attributes)")
    axis.set_ylim(0, 1)
    axis.set_title(title)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def run_one(preset_name: str, seed: int, overrides: dict, root: Path) -> dict:
    started = cpu_seconds()  # before the imports: the first run's figure includes starting TensorFlow
    wall = time.time()
    from t2ilib.config import preset
    from t2ilib.training.stage1 import train_stage1

    config = preset(preset_name).replace(**{**overrides, "train.seed": seed})
    run_dir = root / f"{preset_name}-s{seed}"
    if (run_dir / "metrics.json").exists():
        raise SystemExit(f"{run_dir} already holds a finished run: delete it or pass --out elsewhere.")
    (run_dir / "cpu_minutes.csv").unlink(missing_ok=True)
    metrics = train_stage1(config, run_dir, verbose=0, extra_callbacks=[epoch_clock(run_dir / "cpu_minutes.csv", started)])
    row = {"preset": preset_name, "seed": seed, "overrides": overrides, "epochs": metrics.get("epochs_trained"),
           "steps": metrics.get("optimizer_steps"), "cpu_minutes": round((cpu_seconds() - started) / 60, 2),
           "wall_minutes": round((time.time() - wall) / 60, 2)}
    if metrics.get("fidelity"):
        row.update({name: round(metrics["fidelity"][name], 3) for name in (*ATTRIBUTES, "mean")})
        row["mismatched"] = round(metrics["fidelity_mismatched_captions"]["mean"], 3)
        test = metrics["follows_captions"]
        row.update(margin=round(test["margin"], 3), p_value=float(f"{test['p_value']:.2g}"), follows=test["follows"],
                   n=test["n"])
    fidelity_vs_minutes([run_dir], run_dir / "fidelity_vs_minutes.png", f"{preset_name} seed {seed}")
    (run_dir / "learning.json").write_text(json.dumps(row, indent=2) + "\n")
    return row


def score_run(run_dir: Path) -> dict:
    """Fidelity of a run directory's latest checkpoint (e.g. a run stopped before its last epoch)."""
    from t2ilib.data.prepare import prepare_data
    from t2ilib.training.stage1 import embed_all_captions, evaluate_stage1, load_generator

    generator, _, config = load_generator(run_dir)
    prepared = prepare_data(config.data, progress=False)
    _, embeddings = embed_all_captions(config, prepared)
    metrics = evaluate_stage1(generator, config, prepared, embeddings)
    clock = (run_dir / "cpu_minutes.csv").read_text().strip().splitlines()
    epochs, cpu_minutes = (int(clock[-1].split(",")[0]), float(clock[-1].split(",")[1])) if len(clock) > 1 else (0, 0.0)
    test = metrics["follows_captions"]
    return {"run": str(run_dir), "epochs": epochs, "cpu_minutes_at_last_epoch": cpu_minutes,
            **{name: round(metrics["fidelity"][name], 3) for name in (*ATTRIBUTES, "mean")},
            "mismatched": round(metrics["fidelity_mismatched_captions"]["mean"], 3),
            "margin": round(test["margin"], 3), "p_value": float(f"{test['p_value']:.2g}"), "follows": test["follows"]}


def markdown_rows(rows: list[dict]) -> str:
    header = ("| preset | overrides | seed | steps | CPU min | wall min | shape | colour | position | background | mean "
              "| mismatched | margin (p) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for row in rows:
        overrides = " ".join(f"{k}={v}" for k, v in row["overrides"].items()) or "-"
        scores = " | ".join(f"{row[name]:.2f}" if name in row else "-" for name in (*ATTRIBUTES, "mean", "mismatched"))
        margin = f"{row['margin']:+.2f} ({row['p_value']:.1g})" if "margin" in row else "-"
        lines.append(f"| {row['preset']} | {overrides} | {row['seed']} | {row['steps']} | {row['cpu_minutes']:.1f} "
                     f"| {row['wall_minutes']:.1f} | {scores} | {margin} |")
    return header + "\n".join(lines) + "\n"


def append_results(rows: list[dict], note: str) -> None:
    from common import machine

    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in text:
        text = text.rstrip("\n") + (
            f"\n\n{SECTION}\n\n`python benchmarks/learning.py --preset P --seeds ...` (built-in shapes data; fidelity of "
            "240 generated images for the 60 test captions; mismatched: the same images scored against another image's "
            "caption; margin: their paired difference, with its one-sided p-value from `follows_captions`; CPU minutes: "
            "user + sys of the whole process, data preparation and evaluation included).\n")
    stamp = datetime.date.today().isoformat()
    block = f"\n{stamp}, {machine()}. {note}\n\n" + markdown_rows(rows)
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)  # the block goes at the end of the section, before the next one
    end = len(text) if end < 0 else end
    RESULTS.write_text(text[:end].rstrip("\n") + "\n" + block + text[end:])


def main(argv=None) -> list[dict]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="a preset name (repeatable)")
    parser.add_argument("--score", metavar="RUN_DIR", help="only score the latest checkpoint of a run directory "
                        "(a run stopped early) and print it")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="overrides", action="append", metavar="SECTION.KEY=VALUE")
    parser.add_argument("--out", default="runs/learning", help="where the run directories go")
    parser.add_argument("--note", default="", help="a sentence for RESULTS.md (e.g. 'machine shared with 4 jobs')")
    parser.add_argument("--no-results", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    if args.score:
        print(json.dumps(score_run(Path(args.score))))
        return []
    if not args.preset:
        parser.error("--preset is required (or --score RUN_DIR)")
    overrides = parse_overrides(args.overrides)
    root = Path(args.out)
    rows = []
    for preset_name in args.preset:
        for seed in args.seeds:
            row = run_one(preset_name, seed, overrides, root)
            print(json.dumps(row), flush=True)
            rows.append(row)
    run_dirs = [root / f"{row['preset']}-s{row['seed']}" for row in rows]
    fidelity_vs_minutes(run_dirs, root / "fidelity_vs_minutes.png", "Shapes fidelity against CPU time")
    print(markdown_rows(rows))
    if not args.no_results:
        append_results(rows, args.note)
    return rows


if __name__ == "__main__":
    main()
