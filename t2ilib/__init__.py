"""t2ilib: a Keras 3 / TensorFlow course kit for text-to-image generation.

The data flow, one cached artefact per arrow (see README.md):

    dataset folder (Flickr8k format)  -> t2ilib.data     captions table, splits (CSV), image cache
    captions                          -> t2ilib.text     caption embeddings (npy, per encoder)
    images (instead of captions)      -> t2ilib.features Xception image features (condition.source)
    images + embeddings               -> t2ilib.data.pipeline   tf.data batches
    batches                           -> t2ilib.models / t2ilib.training   a run directory
    run directory                     -> t2ilib.metrics / t2ilib.viz       numbers and figures

`import t2ilib` loads nothing but this docstring and the version: import the part you need
(`from t2ilib.training.stage1 import train_stage1`, `from t2ilib.text import make_encoder`, ...).
The parts that build networks or pipelines import TensorFlow when they are imported.
"""

__version__ = "0.1.0"
