#!/usr/bin/env bash
# Set up t2ilib in a Colab runtime (run from the repository root, once per runtime):
#
#   bash colab_setup.sh [--data-dir DIR] [--local-dir DIR] [--flickr8k] [--glove] [--check [--resolve]]
#
#   --data-dir DIR   data folder, the config's data.data_dir
#                    (default: /content/drive/MyDrive/t2ilib/data, so it survives runtime resets)
#   --local-dir DIR  the runtime's local disk: downloads are unpacked there first, and the zips
#                    never reach DIR (default: $T2ILIB_LOCAL_DIR, else /content/t2ilib_local on Colab)
#   --flickr8k       download, verify and unpack Flickr8k into DIR/Flickr8k (skipped when already there)
#   --glove          download glove.6B (822 MB, once) and extract glove.6B.50d.txt into DIR
#   --nltk           fetch NLTK's wordnet and stopwords corpora (the tokenizer's lemmas)
#   --check          install and download nothing: print what would be installed and downloaded,
#                    check that everything needed is there, exit 1 (with what to do) if not.
#                    Also T2ILIB_SETUP_DRY_RUN=1.
#   --resolve        with --check: also let pip resolve the install (pip install --dry-run, needs
#                    the package index) and fail if it would change TensorFlow, Keras, NumPy or torch
#
# Colab ships TensorFlow and Keras built for its GPU. Everything below is installed against a
# constraints file that pins the versions Colab already has, so pip can add packages but never
# replace TensorFlow, Keras, NumPy or torch; the TensorFlow version is compared again at the end.
set -euo pipefail

DATA_DIR="/content/drive/MyDrive/t2ilib/data"
if [[ -d /content ]]; then LOCAL_DEFAULT=/content/t2ilib_local; else LOCAL_DEFAULT="${TMPDIR:-/tmp}/t2ilib_local"; fi
LOCAL_DIR="${T2ILIB_LOCAL_DIR:-$LOCAL_DEFAULT}"
GET_FLICKR8K=0
GET_GLOVE=0
GET_NLTK=0
CHECK=0
RESOLVE=0
case "${T2ILIB_SETUP_DRY_RUN:-0}" in
    "" | 0 | false | no) ;;
    *) CHECK=1 ;;
esac

usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --data-dir | --local-dir)
            [[ $# -ge 2 ]] || { echo "error: $1 needs a folder" >&2; exit 2; }
            if [[ "$1" == --data-dir ]]; then DATA_DIR="$2"; else LOCAL_DIR="$2"; fi
            shift 2
            ;;
        --data-dir=*)
            DATA_DIR="${1#--data-dir=}"
            shift
            ;;
        --local-dir=*)
            LOCAL_DIR="${1#--local-dir=}"
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
        --check | --dry-run)
            CHECK=1
            shift
            ;;
        --resolve)
            RESOLVE=1
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

# What the kit adds to Colab. tensorflow-hub 0.16 imports pkg_resources, which setuptools 81 removed.
PACKAGES=("tensorflow-hub>=0.16" "setuptools<81" "sentence-transformers" "gensim>=4.3")
# The ML stack Colab already has: pinned at its installed versions for every pip call below.
PINNED='^(tensorflow|tensorflow-intel|tensorflow-io-gcs-filesystem|tf-keras|keras|numpy|ml-dtypes|protobuf|jax|jaxlib|torch|torchvision|torchaudio|tensorboard)=='
NEVER_CHANGED='^(tensorflow|keras|numpy|torch)$'  # what --resolve refuses to see pip install
FLICKR8K_ZIPS=("Flickr8k_text.zip" "Flickr8k_Dataset.zip")
FLICKR8K_BASE="${FLICKR8K_BASE_URL:-https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/}"
GLOVE_SOURCE="${GLOVE_URL:-https://nlp.stanford.edu/data/glove.6B.zip}"

PROBLEMS=0
problem() {  # in --check: report and go on, so that one run lists everything missing
    echo "error: $*" >&2
    if [[ "$CHECK" == 1 ]]; then PROBLEMS=$((PROBLEMS + 1)); else exit 1; fi
}

if [[ "$CHECK" == 1 ]]; then
    echo "== t2ilib setup in $REPO_DIR: CHECK ONLY (nothing is installed or downloaded)"
else
    echo "== t2ilib setup in $REPO_DIR"
fi

# 0. What must already be there.
if ! command -v "$PYTHON" > /dev/null 2>&1; then
    echo "error: no Python interpreter '$PYTHON' (set PYTHON=/path/to/python)." >&2
    exit 1
fi
"$PYTHON" -m pip --version > /dev/null 2>&1 || problem "pip is not available for $PYTHON ($PYTHON -m pip fails)."
tf_version() {
    "$PYTHON" -c 'from importlib.metadata import version; print(version("tensorflow"))' 2>/dev/null || true
}
TF_VERSION="$(tf_version)"
if [[ -z "$TF_VERSION" ]]; then
    problem "TensorFlow is not installed for $PYTHON. Colab has it preinstalled (use a Colab runtime); elsewhere" \
            "use pip install -r requirements.txt (this script is for Colab)."
    TF_MINOR="?"
else
    TF_MINOR="$(echo "$TF_VERSION" | cut -d. -f1,2)"
    echo "   TensorFlow $TF_VERSION is installed and will be kept."
fi
if [[ "$DATA_DIR" == /content/drive/* && ! -d /content/drive/MyDrive ]]; then
    problem "$DATA_DIR is on Google Drive, which is not mounted. Run" \
            "'from google.colab import drive; drive.mount(\"/content/drive\")' first, or pass --data-dir with another folder."
fi
nearest_existing() {  # the folder itself or its nearest existing parent
    local folder="$1"
    while [[ ! -e "$folder" && "$folder" != "/" && "$folder" != "." ]]; do folder="$(dirname "$folder")"; done
    echo "$folder"
}
for folder in "$DATA_DIR" "$LOCAL_DIR"; do
    existing="$(nearest_existing "$folder")"
    [[ -d "$existing" && -w "$existing" ]] || problem "cannot create or write $folder ($existing is not a writable folder)."
done
if [[ "$GET_FLICKR8K" == 1 || "$GET_GLOVE" == 1 ]]; then
    for needed in data_prep/downloads.py data_prep/flickr8k.py data_prep/glove.py data_prep/SHA256SUMS data_prep/MD5SUMS; do
        [[ -f "$needed" ]] || problem "$REPO_DIR/$needed is missing: the kit's copy is incomplete (fetch it again)."
    done
fi

# 1. Pin what Colab already has: the ML stack, taken from pip freeze (plain name==version lines).
CONSTRAINTS="$(mktemp /tmp/t2ilib-constraints.XXXXXX.txt)"
REPORT="$(mktemp /tmp/t2ilib-pip-report.XXXXXX.json)"
trap 'rm -f "$CONSTRAINTS" "$REPORT"' EXIT
"$PYTHON" -m pip freeze 2>/dev/null | grep -iE "$PINNED" > "$CONSTRAINTS" || true
echo "   pinned for every pip call (from pip freeze):"
sed 's/^/     /' "$CONSTRAINTS"
if [[ -n "$TF_VERSION" ]] && ! grep -qiE '^tensorflow==' "$CONSTRAINTS"; then
    problem "pip freeze does not list tensorflow==$TF_VERSION, so it could not be pinned; refusing to let pip near it."
fi

# 2. What Colab lacks.
if [[ "$CHECK" == 1 ]]; then
    echo "== would pip install (constrained): ${PACKAGES[*]}"
    echo "== would pip install (constrained, allowed to fail): tensorflow-text==${TF_MINOR}.*"
    echo "== would pip install --no-deps -e $REPO_DIR (t2ilib itself, no dependency touched)"
    if [[ "$RESOLVE" == 1 ]]; then
        echo "== resolving with pip install --dry-run (asks the package index, installs nothing)"
        if "$PYTHON" -m pip install --quiet --dry-run --ignore-installed --report "$REPORT" \
                --constraint "$CONSTRAINTS" "${PACKAGES[@]}" > /dev/null 2>&1; then
            CHANGED="$("$PYTHON" - "$REPORT" "$NEVER_CHANGED" <<'EOF'
import json, re, sys
from importlib.metadata import PackageNotFoundError, version
report, pattern = json.load(open(sys.argv[1])), re.compile(sys.argv[2], re.I)
for item in report.get("install", []):
    name, new = item["metadata"]["name"], item["metadata"]["version"]
    if pattern.match(name):
        try:
            old = version(name)
        except PackageNotFoundError:
            old = None
        if old != new:
            print(f"{name} {old or '(not installed)'} -> {new}")
EOF
)"
            if [[ -n "$CHANGED" ]]; then
                problem "pip would change the ML stack: $CHANGED. Do not run this setup; report it."
            else
                echo "   pip would leave tensorflow, keras, numpy and torch as they are."
            fi
        else
            problem "pip could not resolve ${PACKAGES[*]} against the pinned versions (no package index, or a conflict):" \
                    "run '$PYTHON -m pip install --dry-run --constraint <pins> ...' to see why."
        fi
    fi
else
    echo "== pip install (constrained)"
    "$PYTHON" -m pip install --quiet --constraint "$CONSTRAINTS" "${PACKAGES[@]}"
    echo "   installed: ${PACKAGES[*]}"

    # tensorflow-text must match TensorFlow's major.minor exactly. It is released some weeks after
    # TensorFlow, so a brand-new Colab image may have none yet: warn and go on (only TF-Hub text
    # models need it; the notebooks' encoders do not).
    if "$PYTHON" -m pip install --quiet --constraint "$CONSTRAINTS" "tensorflow-text==${TF_MINOR}.*"; then
        echo "   installed: tensorflow-text==${TF_MINOR}.*"
    else
        echo "   warning: no tensorflow-text ${TF_MINOR}.* could be installed next to TensorFlow $TF_VERSION;"
        echo "            TF-Hub text models that need it will not load. Everything else works."
    fi

    # 3. The kit itself, editable, without letting pip touch any dependency.
    "$PYTHON" -m pip install --quiet --no-deps -e .
    echo "   installed: t2ilib (editable, --no-deps) from $REPO_DIR"

    AFTER="$(tf_version)"
    if [[ "$AFTER" != "$TF_VERSION" ]]; then
        echo "error: TensorFlow changed from $TF_VERSION to $AFTER during setup. Restart the runtime" >&2
        echo "       (Runtime > Restart session) and report this." >&2
        exit 1
    fi
    "$PYTHON" -c 'import tensorflow as tf, keras, t2ilib; print(f"   check: tensorflow {tf.__version__}, keras {keras.__version__}, t2ilib {t2ilib.__version__} import fine")' 2>/dev/null \
        || { echo "error: tensorflow, keras or t2ilib does not import; run $PYTHON -c 'import t2ilib' to see why." >&2; exit 1; }
fi

# 4. Data.
echo "== data folder: $DATA_DIR (local disk for downloads: $LOCAL_DIR)"
if [[ "$CHECK" == 1 ]]; then
    if [[ "$GET_FLICKR8K" == 1 ]]; then
        for name in "${FLICKR8K_ZIPS[@]}"; do
            if [[ -f "$DATA_DIR/Flickr8k/.unpacked-$name" ]]; then
                echo "   Flickr8k: $name already unpacked in $DATA_DIR/Flickr8k: nothing to download"
            else
                checks="its MD5 (data_prep/MD5SUMS), unpack it there"
                [[ "$name" == Flickr8k_text.zip ]] && checks+=", check the text files (data_prep/SHA256SUMS)"
                echo "   Flickr8k: would download ${FLICKR8K_BASE%/}/$name to $LOCAL_DIR/downloads, check" \
                     "$checks, move the files into $DATA_DIR/Flickr8k and delete the zip"
            fi
        done
    fi
    if [[ "$GET_GLOVE" == 1 ]]; then
        if [[ -f "$DATA_DIR/glove.6B.50d.txt" ]]; then
            echo "   GloVe: $DATA_DIR/glove.6B.50d.txt already there: nothing to download"
        else
            echo "   GloVe: would download $GLOVE_SOURCE (822 MB) to $LOCAL_DIR/downloads, extract" \
                 "glove.6B.50d.txt into $DATA_DIR and delete the zip"
        fi
    fi
    if [[ "$GET_NLTK" == 1 ]]; then
        echo "   NLTK: would fetch the wordnet and stopwords corpora ($PYTHON -m nltk.downloader)"
    fi
    if [[ "$PROBLEMS" -gt 0 ]]; then
        echo "== check FAILED: $PROBLEMS problem(s) above; nothing was installed or downloaded." >&2
        exit 1
    fi
    echo "== check passed: nothing was installed or downloaded. Run again without --check to do it."
    exit 0
fi
mkdir -p "$DATA_DIR"
if [[ "$GET_FLICKR8K" == 1 ]]; then
    echo "== Flickr8k"
    # FLICKR8K_BASE_URL (optional) points at another copy of the two zips, e.g. a file:// folder.
    "$PYTHON" data_prep/flickr8k.py --dest "$DATA_DIR" --local-dir "$LOCAL_DIR" --base-url "$FLICKR8K_BASE"
fi
if [[ "$GET_GLOVE" == 1 ]]; then
    echo "== GloVe"
    # GLOVE_URL (optional) points at another copy of glove.6B.zip, e.g. a file:// path.
    "$PYTHON" data_prep/glove.py --dest "$DATA_DIR" --local-dir "$LOCAL_DIR" --url "$GLOVE_SOURCE"
fi
if [[ "$GET_NLTK" == 1 ]]; then
    echo "== NLTK corpora"
    "$PYTHON" -m nltk.downloader -q wordnet stopwords \
        || echo "   warning: NLTK's corpora could not be fetched; the tokenizer keeps words as they are (no lemmas)."
fi
echo "== done. Use data.data_dir = $DATA_DIR in your config (the notebooks do)."
