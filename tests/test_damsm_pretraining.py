"""DAMSM pretraining on the built-in shapes dataset: text-to-image retrieval beats chance after a
few epochs, the cached pair is reused, and a stale or damaged cache is trained again."""

import json
import logging

import numpy as np
import pytest

from t2ilib.config import preset
from t2ilib.training.damsm import DAMSMSettings, _stale_reason, damsm_dir, damsm_for, load_damsm, retrieval_check

# A random frozen InceptionV3 at its smallest input (no download), small features, short captions.
TINY = dict(embedding_dim=32, word_dim=16, words_per_caption=8, backbone_size=75, backbone_weights=None,
            batch_size=32)


@pytest.fixture
def shapes_config(tmp_path):
    """100 shapes images (500 captions, 90 of them in validation), 32 px."""
    return preset("tiny").replace(**{"data.data_dir": str(tmp_path / "data"), "data.shapes_num_images": 100})


def test_pretrained_damsm_retrieves_images_well_above_chance_and_is_reused(shapes_config, caplog):
    settings = DAMSMSettings(epochs=4, **TINY)
    with caplog.at_level(logging.INFO, logger="t2ilib"):
        damsm = damsm_for(shapes_config, settings)
    assert "no DAMSM trained yet" in caplog.text
    check = damsm.retrieval
    assert check["captions"] == 90 and check["images"] == 90
    # Measured 0.144 at recall@1 (13 of 90 captions) against chance 0.019 (1.7 expected hits;
    # 13 or more by chance has probability < 1e-7); recall@5 0.544 against 0.092.
    assert check["recall@1"] >= check["chance@1"] + 0.06 and check["recall@1"] >= 4 * check["chance@1"]
    assert check["recall@5"] >= check["chance@5"] + 0.2
    losses = damsm.meta["loss_by_epoch"]
    assert losses[-1] < 0.8 * losses[0]

    folder = damsm_dir(shapes_config, settings)
    written = (folder / "manifest.json").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="t2ilib"):
        again = damsm_for(shapes_config, settings)
    assert "Pretraining" not in caplog.text and (folder / "manifest.json").stat().st_mtime_ns == written
    # the weights really came back (the random backbone too): the check measured anew agrees
    from t2ilib.data.prepare import prepare_data

    prepared = prepare_data(shapes_config.data, progress=False)
    assert retrieval_check(again, again.tokenizer, prepared, 32) == check
    ids = again.tokenizer.encode(["a red circle at the top on a white background"])
    np.testing.assert_array_equal(ids, damsm.tokenizer.encode(["a red circle at the top on a white background"]))


def test_a_changed_dataset_or_a_damaged_cache_is_trained_again(shapes_config, caplog):
    settings = DAMSMSettings(epochs=1, **TINY)
    damsm_for(shapes_config, settings)
    folder = damsm_dir(shapes_config, settings)
    token_file = next((folder.parents[3]).glob("shapes-*/Flickr8k.token.txt"))
    lines = token_file.read_text().splitlines()
    name, caption = lines[0].split("\t")
    token_file.write_text("\n".join([f"{name}\t{caption} with a thin outline"] + lines[1:]) + "\n")
    with caplog.at_level(logging.INFO, logger="t2ilib"):
        damsm_for(shapes_config, settings)
    assert "the dataset changed since the DAMSM was trained (captions differ)" in caplog.text
    assert json.loads((folder / "manifest.json").read_text())["fingerprint"]["captions"]

    # A damaged cache takes the same path (told apart by `_stale_reason`; not trained a third time here).
    fingerprint = json.loads((folder / "manifest.json").read_text())["fingerprint"]
    assert _stale_reason(folder, fingerprint) is None
    (folder / "manifest.json").write_text("{not json")
    assert "damaged cache" in _stale_reason(folder, fingerprint) and "does not parse" in _stale_reason(folder, fingerprint)
    (folder / "manifest.json").unlink()
    assert _stale_reason(folder, fingerprint) == "no manifest.json (training was interrupted)"
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        load_damsm(folder)
