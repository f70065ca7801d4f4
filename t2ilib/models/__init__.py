"""Models: StackGAN stages (and, later, the GloVe VAE and the Xception baseline)."""

from t2ilib.models.stackgan import (
    StackGANStage1,
    StageIDiscriminator,
    StageIGenerator,
    build_stage1,
    make_optimizer,
)
from t2ilib.models.stackgan2 import (
    StackGANStage2,
    StageIIDiscriminator,
    StageIIGenerator,
    build_stage2,
)

__all__ = ["StackGANStage1", "StageIDiscriminator", "StageIGenerator", "build_stage1", "make_optimizer",
           "StackGANStage2", "StageIIDiscriminator", "StageIIGenerator", "build_stage2"]

from t2ilib.models.vae import REPORT_MODELS, TextToImageVAE, letterbox, report_model  # noqa: E402

__all__ += ["REPORT_MODELS", "TextToImageVAE", "letterbox", "report_model"]

from t2ilib.models.cvae import ConditionalVAE, improved_model  # noqa: E402

__all__ += ["ConditionalVAE", "improved_model"]
