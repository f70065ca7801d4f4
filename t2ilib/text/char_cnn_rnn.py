"""The char-CNN-RNN caption embeddings of the original StackGAN (CUB birds, Oxford flowers).

StackGAN did not encode text itself: it read embeddings computed once by Reed et al.'s
char-CNN-RNN (Torch/Lua) and shipped as Python-2 pickles, one folder per split::

    Data/birds/train/char-CNN-RNN-embeddings.pickle   (num_images, 10, 1024) float32: 10 captions per image
    Data/birds/train/filenames.pickle                 num_images names, e.g. '002.Laysan_Albatross/Laysan_..._1027'
    Data/birds/text_c10/<filename>.txt                the 10 captions, in the same order (optional)

`load_char_cnn_rnn(folder)` reads the two pickles (`encoding="latin1"`, as Python-2 pickles
need). `CharCnnRnnEncoder` puts them behind the common encoder interface: the char-CNN-RNN
model cannot embed new text here, so `encode` LOOKS UP what it is given:

- `"<filename>#<k>"`: the k-th caption's embedding of that image (k = 0..9);
- `"<filename>"`: the mean of the image's 10 embeddings;
- a caption text from `text_c10/` (found in `<folder>/text_c10` or `<folder>/../text_c10`).

To reproduce the original setup, build a Flickr8k-format folder of CUB (token file lines
`<filename>.jpg#k<TAB>caption`) and select `text.encoder = "char-cnn-rnn"` with
`text.char_cnn_rnn_dir` set: every caption is then looked up by its text. That CUB folder
conversion is not part of the kit (CUB is not downloadable offline, so it is untested).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from t2ilib.text.base import TextEncoder

EMBEDDINGS_FILE = "char-CNN-RNN-embeddings.pickle"
FILENAMES_FILE = "filenames.pickle"
TEXT_FOLDER = "text_c10"


def _read_pickle(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. The StackGAN data (e.g. birds.zip of the official StackGAN "
                                f"repository) has {EMBEDDINGS_FILE} and {FILENAMES_FILE} in each split folder.")
    try:
        with open(path, "rb") as file:
            return pickle.load(file, encoding="latin1")  # written by Python 2
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise ValueError(f"{path} is not a readable pickle ({error}); download it again.") from error


@dataclass
class CharCnnRnnEmbeddings:
    """The image file names and their (num_images, captions, dim) float32 embeddings."""

    filenames: list[str]
    embeddings: np.ndarray

    def __post_init__(self):
        self.row = {name: row for row, name in enumerate(self.filenames)}

    def for_image(self, filename: str) -> np.ndarray:
        """The (captions, dim) embeddings of one image ('.jpg' at the end is optional)."""
        key = filename[:-4] if filename.endswith(".jpg") and filename not in self.row else filename
        if key not in self.row:
            raise KeyError(f"{filename!r} is not among the {len(self.filenames)} char-CNN-RNN file names "
                           f"(for example {self.filenames[0]!r}).")
        return self.embeddings[self.row[key]]


def load_char_cnn_rnn(folder) -> CharCnnRnnEmbeddings:
    """Read `char-CNN-RNN-embeddings.pickle` and `filenames.pickle` of one StackGAN split folder."""
    folder = Path(folder)
    embeddings = np.asarray(_read_pickle(folder / EMBEDDINGS_FILE), dtype=np.float32)
    filenames = [name.decode("latin1") if isinstance(name, bytes) else str(name)
                 for name in _read_pickle(folder / FILENAMES_FILE)]
    if embeddings.ndim == 2:  # one embedding per image in some releases
        embeddings = embeddings[:, None, :]
    if embeddings.ndim != 3:
        raise ValueError(f"{folder / EMBEDDINGS_FILE}: expected an array (images, captions, dim), "
                         f"got shape {embeddings.shape}.")
    if len(filenames) != len(embeddings):
        raise ValueError(f"{folder}: {len(filenames)} file names in {FILENAMES_FILE} but {len(embeddings)} "
                         f"images in {EMBEDDINGS_FILE}; they must come from the same split folder.")
    return CharCnnRnnEmbeddings(filenames, embeddings)


def read_cub_captions(text_dir, filenames: list[str]) -> dict[str, tuple[str, int]]:
    """Caption text -> (filename, k) from `text_dir/<filename>.txt` (10 lines each; missing files skipped)."""
    lookup = {}
    for name in filenames:
        path = Path(text_dir) / f"{name}.txt"
        if not path.is_file():
            continue
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
        for k, line in enumerate(line for line in lines if line):
            lookup.setdefault(line, (name, k))
    return lookup


class CharCnnRnnEncoder(TextEncoder):
    """Looks captions up in StackGAN's precomputed char-CNN-RNN embeddings (see the module docstring)."""

    name = "char-cnn-rnn"

    def __init__(self, folder, text_dir=None):
        self.folder = Path(folder)
        self.data = load_char_cnn_rnn(self.folder)
        if text_dir is None:
            text_dir = next((path for path in (self.folder / TEXT_FOLDER, self.folder.parent / TEXT_FOLDER)
                             if path.is_dir()), None)
        self.captions = read_cub_captions(text_dir, self.data.filenames) if text_dir is not None else {}

    @property
    def dim(self) -> int:
        return int(self.data.embeddings.shape[-1])

    def cache_key(self) -> str:
        size = (self.folder / EMBEDDINGS_FILE).stat().st_size
        digest = hashlib.sha256(f"{self.folder.resolve()}:{size}".encode()).hexdigest()[:8]
        return f"char-cnn-rnn-{self.folder.name}-{digest}"

    def _lookup(self, key: str) -> np.ndarray | None:
        if key in self.captions:
            name, k = self.captions[key]
            return self.data.for_image(name)[k]
        name, hash_sign, index = key.rpartition("#")
        if hash_sign and index.isdigit():
            try:
                rows = self.data.for_image(name)
            except KeyError:
                return None
            return rows[int(index)] if int(index) < len(rows) else None
        try:
            return self.data.for_image(key).mean(axis=0)
        except KeyError:
            return None

    def encode(self, captions: list[str]) -> np.ndarray:
        output = np.zeros((len(captions), self.dim), dtype=np.float32)
        unknown = []
        for row, caption in enumerate(captions):
            found = self._lookup(caption.strip())
            if found is None:
                unknown.append(caption)
            else:
                output[row] = found
        if unknown:
            raise ValueError(
                f"{len(unknown)} of {len(captions)} captions have no char-CNN-RNN embedding in {self.folder} "
                f"(first: {unknown[0]!r}). The char-CNN-RNN model cannot embed new text: pass '<filename>#<k>', "
                f"'<filename>' or a caption of {TEXT_FOLDER}/.")
        return output
