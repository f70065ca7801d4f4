"""Warnings printed once per Python process, and the errors a training run reports.

`prepare_data` reads the caption file and checks the image cache every time a notebook cell,
a resume or `generate` calls it; the counted skips it finds ("dropped 5 captions of 1 key ...")
are news the first time and noise after that. `warn_once` logs a message only if the very same
text has not been logged before in this process (a different count or path is new text, so it
is logged again).
"""

from __future__ import annotations

import logging

_already_logged: set[str] = set()


def warn_once(logger: logging.Logger, message: str, *args) -> bool:
    """`logger.warning(message, *args)` unless this exact text was already logged; True if logged."""
    text = message % args if args else message
    if text in _already_logged:
        return False
    _already_logged.add(text)
    logger.warning(text)
    return True


def forget_logged_warnings() -> None:
    """Log every warning again the next time it happens (tests call this between tests)."""
    _already_logged.clear()


class TrainingDiverged(RuntimeError):
    """Training stopped because a loss or a weight became NaN or infinite.

    `epoch` and `step` say where (1-based; `step` counts batches from the start of the run for
    the step-exact GAN trainers, within the epoch otherwise, None when found at the epoch's end);
    `checkpoint` is the newest checkpoint kept (None if none was written yet): it holds the
    last finite weights, because nothing was saved after the problem appeared.
    """

    def __init__(self, message: str, epoch: int, step: int | None, checkpoint: str | None):
        super().__init__(message)
        self.epoch, self.step, self.checkpoint = epoch, step, checkpoint


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (full disk or Drive quota, lost mount, permissions)."""
