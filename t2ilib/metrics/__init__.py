"""Metrics for generated images."""

from t2ilib.metrics.fidelity import chance_fidelity, predict_attributes, shapes_fidelity
