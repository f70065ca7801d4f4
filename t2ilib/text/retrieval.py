"""Compare caption encoders with numbers: caption retrieval recall@k and semantic search tables.

Caption retrieval. Every image has 5 captions that describe the same scene in other words. For
each caption (the query), rank all other captions of the chosen images by cosine similarity;
the query is a hit at k when one of its k nearest captions belongs to the same group (the same
image). recall@k is the fraction of queries that are hits. A good encoder puts paraphrases
close together, so its recall is high.

- The gallery is every caption of the images of one split (`retrieval_captions`). Under the
  reports' split rule the validation split holds only caption #0 of its images, so the other
  four captions of those images are taken from the table too: the encoder never sees them as
  queries of its own training, only as text (Word2Vec and the vocabulary encoders were fitted
  on them, which is how the report used them).
- Ties count AGAINST the encoder: a query's rank is 1 + the number of other-group captions at
  least as similar as its best same-group caption. An encoder that gives every caption the same
  vector therefore scores recall@k = 0 (unless the gallery is smaller than k), never chance.
- On the built-in shapes dataset different images with the same four attributes get captions
  from the same few templates, so "same image" is the wrong target there: the group is the
  attribute combination (`group="attributes"`, the default for shapes).
- `max_images` draws that many images with `numpy.random.default_rng(seed)`, so the numbers
  are reproducible; recall falls as the gallery grows, so compare encoders on the same draw.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from t2ilib.text.cache import embed_captions, nearest_captions

SHAPES_ATTRIBUTES = ("shape", "colour", "position", "background")


def _normalise(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def first_hit_ranks(embeddings, groups, chunk_size: int = 1024) -> np.ndarray:
    """For each caption, the rank (1 = nearest) of its nearest same-group caption among all the others.

    Cosine similarity, the caption itself excluded, ties counted against it (module docstring).
    Captions whose group has no other caption get rank 0 (they cannot be queries).
    """
    vectors = _normalise(embeddings)
    codes = pd.factorize(pd.Series(list(groups)))[0]
    if len(codes) != len(vectors):
        raise ValueError(f"{len(vectors)} embeddings but {len(codes)} group labels.")
    ranks = np.zeros(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), chunk_size):
        stop = min(start + chunk_size, len(vectors))
        similarity = vectors[start:stop] @ vectors.T  # (chunk, N)
        rows = np.arange(stop - start)
        same = codes[start:stop, None] == codes[None, :]
        same[rows, rows + start] = False  # not itself
        best = np.where(same, similarity, -np.inf).max(axis=1)
        other = ~same
        other[rows, rows + start] = False
        beaten_or_tied = (other & (similarity >= best[:, None])).sum(axis=1)
        ranks[start:stop] = np.where(np.isfinite(best), beaten_or_tied + 1, 0)
    return ranks


def retrieval_recall(embeddings, groups, ks=(1, 5, 10)) -> dict:
    """recall@k for each k, the median first-hit rank and the number of queries (module docstring)."""
    ranks = first_hit_ranks(embeddings, groups)
    ranks = ranks[ranks > 0]
    if not len(ranks):
        raise ValueError("No caption shares its group with another caption: nothing to retrieve.")
    scores = {f"recall@{k}": float((ranks <= k).mean()) for k in ks}
    scores["median_rank"] = float(np.median(ranks))
    scores["queries"] = int(len(ranks))
    return scores


def retrieval_captions(prepared, split: str = "validation", max_images: int | None = None, seed: int = 0,
                       group: str | None = None) -> pd.DataFrame:
    """All captions of the images of `split`, with a `group` column (what counts as "the same scene").

    `group`: "image" (default for real data) or "attributes" (default for the shapes dataset,
    whose `prepared.attributes` says what each caption shows). `max_images` images are drawn
    with `seed` when given.
    """
    captions = prepared.captions
    images = captions.loc[captions["split"] == split, "image"].unique()
    if not len(images):
        raise ValueError(f"The split {split!r} of {prepared.root} is empty.")
    if max_images is not None and max_images < len(images):
        images = np.sort(np.random.default_rng(seed).choice(images, size=int(max_images), replace=False))
    table = captions[captions["image"].isin(set(images))].copy()
    group = group or ("attributes" if prepared.attributes is not None else "image")
    if group == "image":
        table["group"] = table["image"]
    elif group == "attributes":
        if prepared.attributes is None:
            raise ValueError("group='attributes' needs the built-in shapes dataset (its attributes.csv).")
        attributes = prepared.attributes.loc[table.index, list(SHAPES_ATTRIBUTES)]
        table["group"] = attributes.astype(str).agg(" ".join, axis=1)
    else:
        raise ValueError(f"Unknown group {group!r}; choose 'image' or 'attributes'.")
    return table


def retrieval_table(encoders: dict, captions: pd.DataFrame, cache_dir=None, ks=(1, 5, 10),
                    embeddings: dict | None = None) -> pd.DataFrame:
    """Rank encoders by caption retrieval: one row per encoder, best recall first.

    `encoders` maps a display name to an encoder; `captions` is `retrieval_captions(...)` (any
    table with `caption` and `group` columns). Embeddings go through the `embed_captions` cache,
    unless `embeddings[name]` already holds one row per row of `captions`.
    """
    texts = captions["caption"].tolist()
    embeddings = embeddings or {}
    rows = []
    for name, encoder in encoders.items():
        started = time.perf_counter()
        vectors = embeddings.get(name)
        if vectors is None:
            vectors = embed_captions(encoder, texts, cache_dir)
        elif len(vectors) != len(texts):
            raise ValueError(f"embeddings[{name!r}] has {len(vectors)} rows for {len(texts)} captions.")
        vectors = np.asarray(vectors)
        scores = retrieval_recall(vectors, captions["group"].tolist(), ks)
        rows.append({"encoder": name, "dim": int(vectors.shape[1]), **scores,
                     "captions": len(texts), "seconds": round(time.perf_counter() - started, 2)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = [f"recall@{k}" for k in ks]
    table = table.sort_values(order, ascending=False, kind="stable").reset_index(drop=True)
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


def semantic_search(encoder, queries: list[str], corpus: list[str], k: int = 5, corpus_embeddings=None,
                    cache_dir=None) -> pd.DataFrame:
    """The `k` corpus captions nearest to each query (report tables 2-3), with cosine similarity and distance.

    Returns one row per (query, rank). `corpus_embeddings` (one row per corpus caption) skips
    encoding the corpus; otherwise it goes through the `embed_captions` cache.
    """
    corpus = list(corpus)
    if corpus_embeddings is None:
        corpus_embeddings = embed_captions(encoder, corpus, cache_dir)
    order, similarity = nearest_captions(encoder.encode(list(queries)), corpus_embeddings, k=k)
    rows = [{"query": query, "rank": rank + 1, "caption": corpus[order[number, rank]],
             "cosine_similarity": float(similarity[number, rank]),
             "cosine_distance": float(1.0 - similarity[number, rank])}
            for number, query in enumerate(queries) for rank in range(order.shape[1])]
    return pd.DataFrame(rows)
