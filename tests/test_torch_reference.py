"""The PyTorch side of benchmarks/vs_pytorch.py is the official StackGAN architecture: its
trainable parameter counts are the official code's (docs/reference.md#stackgan)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import torch_stackgan  # noqa: E402


def test_stage1_reference_has_the_official_counts_and_trains_one_step():
    generator, discriminator = torch_stackgan.build(stage=1)
    assert torch_stackgan.trainable_parameters(generator) == 10_301_248
    assert torch_stackgan.trainable_parameters(discriminator) == 5_715_713
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    before = [p.detach().clone() for p in generator.parameters()]
    d_loss, g_loss = torch_stackgan.Trainer(generator, discriminator).step(images, torch.randn(2, 1024), images.flip(0))
    assert torch.isfinite(torch.tensor([d_loss, g_loss])).all()
    assert all(not torch.equal(a, b) for a, b in zip(before, generator.parameters()))  # the G step moved every weight


def test_stage2_reference_has_the_official_generator_count_with_stage1_frozen():
    generator, discriminator = torch_stackgan.build(stage=2)
    assert torch_stackgan.trainable_parameters(generator) == 26_290_080
    assert torch_stackgan.trainable_parameters(generator.stage1) == 0
    # the kit's Stage-II D (71,400,322) minus its own text Dense (1024 x 128 + 128)
    assert torch_stackgan.trainable_parameters(discriminator) == 71_400_322 - (1024 * 128 + 128)
    assert torch_stackgan.STAGE2_D_PARAMETERS == 71_400_322 - (1024 * 128 + 128)  # build() asserts it too
    assert not generator.train().stage1.training  # the frozen Stage-I keeps inference-mode BatchNorm
