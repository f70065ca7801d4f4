"""t2ilib: a Keras 3 / TensorFlow course kit for text-to-image generation.

The data flow, one cached artefact per arrow (see README.md):

    dataset folder (Flickr8k format)  -> t2ilib.data     captions table, splits (CSV), image cache
    captions                          -> t2ilib.text     caption embeddings (npy, per encoder)
    images + embeddings               -> t2ilib.data.pipeline   tf.data batches
    batches                           -> t2ilib.models / t2ilib.training   a run directory
    run directory                     -> t2ilib.metrics / t2ilib.viz       numbers and figures

Submodules are imported lazily so that `import t2ilib` stays fast and does not pull in
TensorFlow until a model or a pipeline is needed.
"""

__version__ = "0.1.0"
