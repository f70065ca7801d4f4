"""Datasets: Flickr8k-format folders, their splits, and the built-in shapes dataset."""

from t2ilib.data.flickr8k import (
    DatasetFiles,
    assign_splits,
    find_dataset_files,
    read_captions,
    read_image_list,
    read_split_csv,
    split_official,
    split_reports_rule,
    write_splits,
)
from t2ilib.data.shapes import (
    ATTRIBUTES,
    BACKGROUNDS,
    COLOURS,
    make_caption,
    make_shapes_dataset,
    parse_caption,
    read_attributes,
    render_shape,
)
