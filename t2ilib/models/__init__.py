"""Models: StackGAN stages (and, later, the GloVe VAE and the Xception baseline)."""

from t2ilib.models.stackgan import (
    StackGANStage1,
    StageIDiscriminator,
    StageIGenerator,
    build_stage1,
    make_optimizer,
)

__all__ = ["StackGANStage1", "StageIDiscriminator", "StageIGenerator", "build_stage1", "make_optimizer"]
