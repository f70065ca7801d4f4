"""Image features as a condition: Xception vectors per image (cached) and a text-to-feature mapper.

Training and generation with them live in `t2ilib.training.feature_baseline`.
"""

from t2ilib.features.mapper import CosineMSELoss, MapperConfig, TextToFeature, mapped_retrieval
from t2ilib.features.xception import (
    FEATURE_SOURCE,
    ImageFeatureCondition,
    build_xception,
    extract_features,
    feature_conditions,
    image_features,
)

__all__ = ["FEATURE_SOURCE", "CosineMSELoss", "ImageFeatureCondition", "MapperConfig", "TextToFeature",
           "build_xception", "extract_features", "feature_conditions", "image_features", "mapped_retrieval"]
