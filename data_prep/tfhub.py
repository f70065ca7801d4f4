"""Fetch the TF-Hub text models once into a cache folder (on Google Drive in Colab).

    python data_prep/tfhub.py --cache-dir /content/drive/MyDrive/t2ilib/tfhub            # USE + BERT
    python data_prep/tfhub.py --cache-dir /content/drive/MyDrive/t2ilib/tfhub --models use

TF-Hub models are downloaded by `hub.load(handle)` itself, into the folder named by the
environment variable TFHUB_CACHE_DIR (by default a temporary folder that a Colab runtime reset
empties). This script sets TFHUB_CACHE_DIR to `--cache-dir` and loads each model once, so the
files land there; afterwards, in every new runtime, set the same variable BEFORE the first
`hub.load` and nothing is downloaded again::

    import os; os.environ["TFHUB_CACHE_DIR"] = "/content/drive/MyDrive/t2ilib/tfhub"

The handles are those of `t2ilib.text.hub` (also the `TextConfig` defaults). BERT's
preprocessing model needs tensorflow-text (colab_setup.sh installs it). Needs internet,
tensorflow and tensorflow-hub; the kit's offline tests build their own tiny SavedModels instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the kit is one folder up

MODELS = {"use": ("USE_HANDLE",), "bert": ("BERT_PREPROCESS_HANDLE", "BERT_ENCODER_HANDLE")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download TF-Hub text models into TFHUB_CACHE_DIR.")
    parser.add_argument("--cache-dir", required=True, help="folder for the models (sets TFHUB_CACHE_DIR)")
    parser.add_argument("--models", nargs="+", default=sorted(MODELS), choices=sorted(MODELS),
                        help="which models (default: all): use = Universal Sentence Encoder, bert = TF-Hub BERT")
    args = parser.parse_args(argv)
    cache_dir = Path(args.cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TFHUB_CACHE_DIR"] = str(cache_dir)  # before tensorflow_hub is imported
    from t2ilib.text import hub as t2ilib_hub

    failed = 0
    for model in args.models:
        for constant in MODELS[model]:
            handle = getattr(t2ilib_hub, constant)
            print(f"  {handle} ...", flush=True)
            try:
                t2ilib_hub.load_hub_model(handle)
            except Exception as error:  # noqa: BLE001  (report every model, then fail)
                print(f"  error: {handle}: {error}", file=sys.stderr)
                failed += 1
            else:
                print(f"  {handle}: cached in {cache_dir}")
    print(f'Set os.environ["TFHUB_CACHE_DIR"] = "{cache_dir}" before hub.load in later sessions.')
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
