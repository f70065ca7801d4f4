#!/usr/bin/env bash
# Set up t2ilib in a Colab runtime (run from the repository root, once per runtime):
#
#   bash colab_setup.sh [--data-dir DIR] [--flickr8k] [--glove] [--nltk]
#
#   --data-dir DIR  data folder, the config's data.data_dir
#                   (default: /content/drive/MyDrive/t2ilib/data, so it survives runtime resets)
#   --flickr8k      download, unpack and verify Flickr8k into DIR/Flickr8k (skipped when already there)
#   --glove         download glove.6B (822 MB, once) and extract glove.6B.50d.txt into DIR
#   --nltk          fetch NLTK's wordnet and stopwords corpora (the tokenizer's lemmas)
#   T2ILIB_SETUP_DRY_RUN=1 bash colab_setup.sh ...   checks, and prints what it would install
#                   and download without doing it
#
# Colab ships TensorFlow and Keras built for its GPU. Everything below is installed against a
# constraints file that pins the versions Colab already has, so pip can add packages but never
# replace TensorFlow, Keras, NumPy or torch.
set -euo pipefail

DATA_DIR="/content/drive/MyDrive/t2ilib/data"
GET_FLICKR8K=0
GET_GLOVE=0
GET_NLTK=0
DRY_RUN="${T2ILIB_SETUP_DRY_RUN:-0}"

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

# Every step that installs or downloads goes through `run`: in a dry run it is printed, not run.
run() {
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "   [dry run] would run: $*"
    else
        "$@"
    fi
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --data-dir)
            [[ $# -ge 2 ]] || { echo "error: --data-dir needs a folder" >&2; exit 2; }
            DATA_DIR="$2"
            shift 2
            ;;
        --data-dir=*)
            DATA_DIR="${1#--data-dir=}"
            shift
            ;;
        --flickr8k)
            GET_FLICKR8K=1
            shift
            ;;
        --glove)
            GET_GLOVE=1
            shift
            ;;
        --nltk)
            GET_NLTK=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "error: unknown option '$1'" >&2
            usage >&2
            exit 2
            ;;
    esac
done

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO_DIR"
if [[ ! -f pyproject.toml || ! -d t2ilib ]]; then
    echo "error: $REPO_DIR does not look like the t2ilib repository (no pyproject.toml / t2ilib/)." >&2
    exit 1
fi
PYTHON="${PYTHON:-python3}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"  # keep TensorFlow's start-up chatter out of the log

echo "== t2ilib setup in $REPO_DIR"
tf_version() {
    "$PYTHON" -c 'from importlib.metadata import version; print(version("tensorflow"))' 2>/dev/null || true
}
TF_VERSION="$(tf_version)"
if [[ -z "$TF_VERSION" ]]; then
    echo "error: TensorFlow is not importable with $PYTHON. Colab has it preinstalled; elsewhere use" >&2
    echo "       pip install -r requirements.txt (this script is for Colab)." >&2
    exit 1
fi
TF_MINOR="$(echo "$TF_VERSION" | cut -d. -f1,2)"
echo "   TensorFlow $TF_VERSION is installed and will be kept."

# 1. Pin what Colab already has: the ML stack, taken from pip freeze (plain name==version lines).
CONSTRAINTS="$(mktemp /tmp/t2ilib-constraints.XXXXXX.txt)"
trap 'rm -f "$CONSTRAINTS"' EXIT
"$PYTHON" -m pip freeze \
    | grep -iE '^(tensorflow|tensorflow-intel|tensorflow-io-gcs-filesystem|tf-keras|keras|numpy|ml-dtypes|protobuf|jax|jaxlib|torch|torchvision|torchaudio|tensorboard)==' \
    > "$CONSTRAINTS" || true
echo "   pinned for this install (from pip freeze):"
sed 's/^/     /' "$CONSTRAINTS"

# 2. What Colab lacks. tensorflow-hub 0.16 imports pkg_resources, which setuptools 81 removed.
echo "== pip install (constrained)"
run "$PYTHON" -m pip install --quiet --constraint "$CONSTRAINTS" \
    "tensorflow-hub>=0.16" \
    "setuptools<81" \
    "sentence-transformers" \
    "gensim>=4.3"
echo "   installed: tensorflow-hub, setuptools<81, sentence-transformers, gensim"

# tensorflow-text must match TensorFlow's major.minor exactly. It is released some weeks after
# TensorFlow, so a brand-new Colab image may have none yet: warn and go on (only TF-Hub text
# models need it; the notebooks' encoders do not).
if run "$PYTHON" -m pip install --quiet --constraint "$CONSTRAINTS" "tensorflow-text==${TF_MINOR}.*"; then
    echo "   installed: tensorflow-text==${TF_MINOR}.*"
else
    echo "   warning: no tensorflow-text ${TF_MINOR}.* could be installed next to TensorFlow $TF_VERSION;"
    echo "            TF-Hub text models that need it will not load. Everything else works."
fi

# 3. The kit itself, editable, without letting pip touch any dependency.
run "$PYTHON" -m pip install --quiet --no-deps -e .
echo "   installed: t2ilib (editable, --no-deps) from $REPO_DIR"

AFTER="$(tf_version)"
if [[ "$AFTER" != "$TF_VERSION" ]]; then
    echo "error: TensorFlow changed from $TF_VERSION to $AFTER during setup. Restart the runtime" >&2
    echo "       (Runtime > Restart session) and report this." >&2
    exit 1
fi
"$PYTHON" -c 'import tensorflow as tf, keras, t2ilib; print(f"   check: tensorflow {tf.__version__}, keras {keras.__version__}, t2ilib {t2ilib.__version__} import fine")' 2>/dev/null \
    || { echo "error: tensorflow, keras or t2ilib does not import; run $PYTHON -c 'import t2ilib' to see why." >&2; exit 1; }

# 4. Data.
mkdir -p "$DATA_DIR"
echo "== data folder: $DATA_DIR"
if [[ "$GET_FLICKR8K" == 1 ]]; then
    echo "== Flickr8k"
    # FLICKR8K_BASE_URL (optional) points at another copy of the two zips, e.g. a file:// folder.
    run "$PYTHON" data_prep/flickr8k.py --dest "$DATA_DIR" ${FLICKR8K_BASE_URL:+--base-url "$FLICKR8K_BASE_URL"}
fi
if [[ "$GET_GLOVE" == 1 ]]; then
    echo "== GloVe"
    # GLOVE_URL (optional) points at another copy of glove.6B.zip, e.g. a file:// path.
    run "$PYTHON" data_prep/glove.py --dest "$DATA_DIR" ${GLOVE_URL:+--url "$GLOVE_URL"}
fi
if [[ "$GET_NLTK" == 1 ]]; then
    echo "== NLTK corpora"
    run "$PYTHON" -m nltk.downloader -q wordnet stopwords
fi
echo "== done. Use data.data_dir = $DATA_DIR in your config (the notebooks do)."
