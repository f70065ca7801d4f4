"""Models: StackGAN Stage-I and Stage-II, DF-GAN, AttnGAN with its DAMSM encoders
(`t2ilib.models.attngan`, `t2ilib.models.damsm`), the GloVe "VAE" of the report and the improved
conditional VAE, and the R-precision judge (`t2ilib.models.judge`).

The building blocks they share (conditioning augmentation, up/down blocks, KL) are in
`t2ilib.models.blocks`; drawing uint8 images from any of the GAN generators (their one output
contract: images first) in `t2ilib.models.sampling`.
"""

from t2ilib.models.attngan import AttnGAN, AttnGANDiscriminator, AttnGANGenerator, AttnGANSampler
from t2ilib.models.cvae import ConditionalVAE, improved_model
from t2ilib.models.damsm import DAMSM, DAMSMImageEncoder, DAMSMTextEncoder
from t2ilib.models.dfgan import DFGAN, DFGANDiscriminator, DFGANGenerator, build_dfgan
from t2ilib.models.stackgan import StackGANStage1, StageIDiscriminator, StageIGenerator, build_stage1, make_optimizer
from t2ilib.models.stackgan2 import StackGANStage2, StageIIDiscriminator, StageIIGenerator, build_stage2
from t2ilib.models.vae import REPORT_MODELS, TextToImageVAE, letterbox, report_model

__all__ = ["AttnGAN", "AttnGANDiscriminator", "AttnGANGenerator", "AttnGANSampler", "ConditionalVAE", "DAMSM",
           "DAMSMImageEncoder", "DAMSMTextEncoder", "DFGAN", "DFGANDiscriminator", "DFGANGenerator", "REPORT_MODELS",
           "StackGANStage1", "StackGANStage2", "StageIDiscriminator", "StageIGenerator", "StageIIDiscriminator",
           "StageIIGenerator", "TextToImageVAE", "build_dfgan", "build_stage1", "build_stage2", "improved_model",
           "letterbox", "make_optimizer", "report_model"]
