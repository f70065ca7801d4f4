"""Reading Flickr8k-format folders: captions, skips, splits, CSV files."""

import logging
import os
from pathlib import Path

import pandas as pd
import pytest

from t2ilib.data.flickr8k import (
    assign_splits,
    find_dataset_files,
    read_captions,
    read_image_list,
    read_split_csv,
    split_official,
    split_reports_rule,
    write_splits,
)

REAL_TEXT_DIR = Path(
    os.environ.get(
        "T2ILIB_FLICKR8K_TEXT",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flickr8k_text",
    )
)
REAL_TEXT_MISSING = (f"real Flickr8k text files not found in {REAL_TEXT_DIR} "
                     "(set T2ILIB_FLICKR8K_TEXT to the folder holding Flickr8k.token.txt)")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture
def real_text_required():
    pytest.fail(f"{REAL_TEXT_MISSING}. In CI the repository must have ../shared/data/flickr8k_text beside it.")


# On a laptop without the files these tests are skipped; in CI (CI=true) a missing folder fails them.
if (REAL_TEXT_DIR / "Flickr8k.token.txt").is_file():
    needs_real_text = pytest.mark.usefixtures()
elif IN_CI:
    needs_real_text = pytest.mark.usefixtures("real_text_required")
else:
    needs_real_text = pytest.mark.skip(reason=REAL_TEXT_MISSING)


def write_token_file(folder: Path, lines, name="Flickr8k.token.txt", newline="\n", bom=False):
    folder.mkdir(parents=True, exist_ok=True)
    data = (newline.join(lines) + newline).encode("utf-8")
    path = folder / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def five(image, start=0):
    return [f"{image}#{k}\tcaption {k} of {image}" for k in range(start, 5)]


def warnings_text(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- the real Flickr8k text files -------------------------------------------------------
@needs_real_text
def test_real_token_file_counts_and_broken_key_dropped_once(caplog):
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        captions = read_captions(REAL_TEXT_DIR / "Flickr8k.token.txt")
    assert len(captions) == 40_455
    assert captions["image"].nunique() == 8_091
    assert captions["caption_index"].value_counts().to_dict() == {k: 8_091 for k in range(5)}
    assert list(captions.columns) == ["image", "caption_index", "caption"]
    assert captions.loc[0, "image"] == "1000268201_693b08cb0e.jpg"
    assert captions["caption_index"].dtype == "int64"
    assert not captions["image"].str.endswith(".1").any()
    messages = warnings_text(caplog)
    assert len(messages) == 1, messages
    assert "dropped 5 caption" in messages[0] and "2258277193_586949ec62.jpg.1" in messages[0]


@needs_real_text
def test_real_lemma_file_reads():
    assert len(read_captions(REAL_TEXT_DIR / "Flickr8k.lemma.token.txt")) == 40_455


@needs_real_text
def test_real_reports_split_counts():
    files = find_dataset_files(REAL_TEXT_DIR)
    captions = assign_splits(read_captions(files.token_file), files, rule="reports")
    assert captions["split"].value_counts().to_dict() == {
        "train": 32_364, "validation": 7_281, "test": 810,
    }
    assert (captions.loc[captions["split"] == "train", "caption_index"] >= 1).all()
    # validation = the FIRST 90% of the #0 captions in file order
    first = captions[captions["caption_index"] == 0]
    assert (first["split"].iloc[:7_281] == "validation").all()
    assert (first["split"].iloc[7_281:] == "test").all()


@needs_real_text
def test_real_official_split(caplog):
    files = find_dataset_files(REAL_TEXT_DIR)
    captions = read_captions(files.token_file)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        split = assign_splits(captions, files, rule="official")
    images = split.groupby("split")["image"].nunique().to_dict()
    assert images == {"train": 6_000, "validation": 1_000, "test": 1_000}
    assert len(split) == 40_000
    assert any("91 image" in m and "455 caption" in m for m in warnings_text(caplog))
    assert len(read_image_list(files.train_list)) == 6_000


# --- finding files ----------------------------------------------------------------------
def test_find_dataset_files_layout(tmp_path):
    write_token_file(tmp_path, five("a.jpg"))
    (tmp_path / "images").mkdir()
    (tmp_path / "Flicker8k_Dataset").mkdir()
    (tmp_path / "Flickr_8k.trainImages.txt").write_text("a.jpg\n")
    files = find_dataset_files(tmp_path)
    assert files.token_file == tmp_path / "Flickr8k.token.txt"
    assert files.images_dir == tmp_path / "Flicker8k_Dataset"  # the real zip's spelling wins
    assert files.train_list == tmp_path / "Flickr_8k.trainImages.txt"
    assert files.dev_list is None and files.test_list is None and files.lemma_file is None


def test_find_dataset_files_missing_token_file_says_what_is_expected(tmp_path):
    write_token_file(tmp_path / "Flickr8k_text", five("a.jpg"))
    with pytest.raises(FileNotFoundError) as error:
        find_dataset_files(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "Flickr8k.token.txt" in message
    assert "Flickr8k_text" in message  # points at the nested copy


def test_official_rule_without_lists_says_which_file_is_missing(tmp_path):
    write_token_file(tmp_path, five("a.jpg"))
    (tmp_path / "Flickr_8k.trainImages.txt").write_text("a.jpg\n")
    files = find_dataset_files(tmp_path)
    with pytest.raises(ValueError, match="Flickr_8k.devImages.txt"):
        assign_splits(read_captions(files.token_file), files, rule="official")
    with pytest.raises(ValueError, match="reports"):
        assign_splits(read_captions(files.token_file), files, rule="random")


# --- reading captions -------------------------------------------------------------------
def test_crlf_and_bom_parse(tmp_path):
    path = write_token_file(tmp_path, five("a.jpg") + five("b.jpg"), newline="\r\n", bom=True)
    captions = read_captions(path)
    assert len(captions) == 10
    assert captions.loc[0, "image"] == "a.jpg"  # no BOM glued to the first name
    assert not captions["caption"].str.contains("\r").any()


def test_malformed_lines_name_file_and_line(tmp_path):
    for bad in ("a.jpg#1 caption with spaces instead of a tab", "a.jpg\tno caption number",
                "a.jpg#x\tcaption number is not an integer"):
        path = write_token_file(tmp_path, ["", "a.jpg#0\tfine", bad])
        with pytest.raises(ValueError) as error:
            read_captions(path)
        assert f"{path}:3" in str(error.value)
        assert "<image>.jpg#<k><TAB><caption>" in str(error.value)


def test_counted_skips_one_warning_per_kind(tmp_path, caplog):
    lines = (
        five("a.jpg")
        + ["", "   "]  # blank lines: ignored silently
        + ["a.jpg#0\tduplicate of a#0", "a.jpg#1\tduplicate of a#1"]
        + ["b.jpg#0\t", "b.jpg#1\t   ", "b.jpg#2\tkept"]
        + ["c.jpg#5\tout of range", "c.jpg#-1\tout of range", "c.jpg#4\tkept"]
        + five("x.jpg.1")
    )
    path = write_token_file(tmp_path, lines)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        captions = read_captions(path)
    assert len(captions) == 7
    assert captions.loc[0, "caption"] == "caption 0 of a.jpg"  # the first duplicate is kept
    assert captions["caption_index"].between(0, 4).all()
    messages = warnings_text(caplog)
    assert len(messages) == 4, messages
    assert any("2 repeated" in m for m in messages)
    assert any("2 empty" in m for m in messages)
    assert any("2 caption(s) whose caption number is outside" in m for m in messages)
    assert any("dropped 5 caption" in m and "x.jpg.1" in m for m in messages)


def test_missing_images_dropped_and_counted(tmp_path, caplog):
    images = tmp_path / "Flicker8k_Dataset"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"")
    path = write_token_file(tmp_path, five("a.jpg") + five("b.jpg") + five("c.jpg"))
    files = find_dataset_files(tmp_path)
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        captions = read_captions(path, files.images_dir)
    assert set(captions["image"]) == {"a.jpg"}
    assert captions.index.tolist() == list(range(5))
    messages = warnings_text(caplog)
    assert len(messages) == 1 and "10 caption(s) of 2 image(s)" in messages[0]


def test_undecodable_bytes_replaced_and_counted(tmp_path, caplog):
    path = tmp_path / "Flickr8k.token.txt"
    path.write_bytes(b"a.jpg#0\tok\nb.jpg#0\tcaf\xe9\nb.jpg#1\tna\xefve \xff\n")
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        captions = read_captions(path)
    assert len(captions) == 3 and "\ufffd" in captions.loc[1, "caption"]
    messages = warnings_text(caplog)
    assert len(messages) == 1
    assert "2 line(s)" in messages[0] and "line 2" in messages[0] and str(path) in messages[0]


# --- splits -----------------------------------------------------------------------------
def test_reports_rule_floor_and_order():
    captions = pd.DataFrame(
        [(f"{i}.jpg", k, "c") for i in range(10) for k in range(5)],
        columns=["image", "caption_index", "caption"],
    )
    split = split_reports_rule(captions)
    assert "split" not in captions.columns  # a copy is returned
    assert split["split"].value_counts().to_dict() == {"train": 40, "validation": 9, "test": 1}
    assert split.loc[(split["image"] == "9.jpg") & (split["caption_index"] == 0), "split"].item() == "test"
    # 0.29 * 100 is 28.999999999999996 in floating point; the rule still gives 29
    many = pd.DataFrame({"image": [f"{i}.jpg" for i in range(100)], "caption_index": 0, "caption": "c"})
    assert (split_reports_rule(many, 0.29)["split"] == "validation").sum() == 29


def test_official_split_overlap_and_orphans(caplog):
    captions = pd.DataFrame(
        [(f"{i}.jpg", k, "c") for i in range(4) for k in range(5)],
        columns=["image", "caption_index", "caption"],
    )
    with pytest.raises(ValueError, match="both the train and the test list"):
        split_official(captions, ["0.jpg", "1.jpg"], ["2.jpg"], ["1.jpg"])
    with caplog.at_level(logging.WARNING, logger="t2ilib"):
        split = split_official(captions, ["0.jpg", "gone.jpg"], ["1.jpg"], ["2.jpg", "lost.jpg"])
    assert split.groupby("split")["image"].nunique().to_dict() == {"train": 1, "validation": 1, "test": 1}
    assert "3.jpg" not in set(split["image"])
    messages = warnings_text(caplog)
    assert any("5 caption(s) of 1 image(s)" in m for m in messages)
    assert any("2 list entr" in m for m in messages)


def test_csv_round_trip_keeps_types_and_tricky_text(tmp_path):
    captions = pd.DataFrame(
        {
            "image": ["a.jpg", "a.jpg", "b.jpg", "b.jpg"],
            "caption_index": [0, 1, 0, 1],
            "caption": ["NA", 'a "quoted", comma', "", "null"],
            "split": ["validation", "train", "test", "train"],
        }
    )
    paths = write_splits(captions, tmp_path / "splits")
    assert set(paths) == {"captions", "train", "validation", "test"}
    back = read_split_csv(paths["captions"])
    assert back["caption_index"].dtype == "int64"
    assert back["caption"].tolist() == ["NA", 'a "quoted", comma', "", "null"]
    assert all(isinstance(x, str) for x in back["caption"])
    train = read_split_csv(paths["train"])
    assert train["caption"].tolist() == ['a "quoted", comma', "null"]
    assert list(train.columns) == ["image", "caption_index", "caption", "split"]
    with pytest.raises(ValueError, match="assign_splits"):
        write_splits(captions.drop(columns="split"), tmp_path / "other")
    with pytest.raises(FileNotFoundError, match="write_splits"):
        read_split_csv(tmp_path / "nothing.csv")
