"""Models: StackGAN Stage-I and Stage-II, the GloVe "VAE" of the report and the improved conditional VAE.

The building blocks they share (conditioning augmentation, up/down blocks, KL) are in
`t2ilib.models.blocks`.
"""

from t2ilib.models.cvae import ConditionalVAE, improved_model
from t2ilib.models.stackgan import StackGANStage1, StageIDiscriminator, StageIGenerator, build_stage1, make_optimizer
from t2ilib.models.stackgan2 import StackGANStage2, StageIIDiscriminator, StageIIGenerator, build_stage2
from t2ilib.models.vae import REPORT_MODELS, TextToImageVAE, letterbox, report_model

__all__ = ["ConditionalVAE", "REPORT_MODELS", "StackGANStage1", "StackGANStage2", "StageIDiscriminator",
           "StageIGenerator", "StageIIDiscriminator", "StageIIGenerator", "TextToImageVAE", "build_stage1",
           "build_stage2", "improved_model", "letterbox", "make_optimizer", "report_model"]
