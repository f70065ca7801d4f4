"""Models: StackGAN stages, DF-GAN, the GloVe VAE and its conditional improvement."""

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

from t2ilib.models.dfgan import DFGAN, DFGANDiscriminator, DFGANGenerator, build_dfgan  # noqa: E402

__all__ += ["DFGAN", "DFGANDiscriminator", "DFGANGenerator", "build_dfgan"]

from t2ilib.models.vae import REPORT_MODELS, TextToImageVAE, letterbox, report_model  # noqa: E402

__all__ += ["REPORT_MODELS", "TextToImageVAE", "letterbox", "report_model"]

from t2ilib.models.cvae import ConditionalVAE, improved_model  # noqa: E402

__all__ += ["ConditionalVAE", "improved_model"]
