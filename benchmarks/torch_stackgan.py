"""The official StackGAN-Pytorch networks and training step, re-written for the speed comparison.

This is the benchmark's PyTorch side (benchmarks/vs_pytorch.py): the architecture of
hanzhanggit/StackGAN-Pytorch `code/model.py` (STAGE1_G/STAGE1_D, STAGE2_G/STAGE2_D) written out
from docs/reference.md#stackgan, with the official trainable parameter counts asserted:
Stage-I G 10,301,248 and D 5,715,713; Stage-II G 26,290,080 (the frozen Stage-I G adds none)
and D 71,269,122 (the kit's 71,400,322 less its text Dense, see STAGE2_D_PARAMETERS).
Like the port it uses a ReLU in the conditioning augmentation and reuses the generator's mu
(detached) as the discriminator's text code, so D has no text Dense of its own.

The step does what the kit's `StackGANStage1.train_step` does: one generator pass, a D step
on (real, caption), (mismatched real, caption) and (fake, caption) -- three D passes -- then a
G step against the updated D (fake -> 1, plus 2.0 x KL), Adam lr 2e-4, betas (0.5, 0.999).
The port itself scores the mismatched pair on the real image's features (two trunk passes);
three passes keep the work equal to the kit's.
"""

from __future__ import annotations

import torch
from torch import nn

STAGE1_G_PARAMETERS = 10_301_248
STAGE1_D_PARAMETERS = 5_715_713
STAGE2_G_PARAMETERS = 26_290_080
# STAGE2_D: the kit's Stage-II D has 71,400,322; the port's has no text Dense of its own (it is
# given the generator's mu), which is 1024 x 128 + 128 weights of the kit's: 71,269,122.
STAGE2_D_PARAMETERS = 71_400_322 - (1024 * 128 + 128)


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Nearest x2 -> conv3x3 -> BN -> ReLU."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(in_channels, out_channels),
                         nn.BatchNorm2d(out_channels), nn.ReLU(True))


def down_block(in_channels: int, out_channels: int, normalize: bool = True) -> list[nn.Module]:
    """conv4x4/2 -> [BN] -> LeakyReLU(0.2)."""
    norm = [nn.BatchNorm2d(out_channels)] if normalize else []
    return [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False), *norm, nn.LeakyReLU(0.2, True)]


class ConditioningAugmentation(nn.Module):
    def __init__(self, embedding_dim: int = 1024, condition_dim: int = 128):
        super().__init__()
        self.condition_dim = condition_dim
        self.fc = nn.Linear(embedding_dim, 2 * condition_dim)

    def forward(self, embeddings):
        statistics = torch.relu(self.fc(embeddings))  # (B, 2Ng)
        mu, log_variance = statistics[:, : self.condition_dim], statistics[:, self.condition_dim :]
        condition = mu + torch.exp(0.5 * log_variance) * torch.randn_like(mu)
        return condition, mu, log_variance


class Stage1Generator(nn.Module):
    def __init__(self, embedding_dim: int = 1024, gf: int = 128, condition_dim: int = 128, noise_dim: int = 100):
        super().__init__()
        self.base = gf * 8
        self.conditioning = ConditioningAugmentation(embedding_dim, condition_dim)
        self.fc = nn.Sequential(nn.Linear(noise_dim + condition_dim, self.base * 16, bias=False),
                                nn.BatchNorm1d(self.base * 16), nn.ReLU(True))
        self.up = nn.Sequential(up_block(self.base, self.base // 2), up_block(self.base // 2, self.base // 4),
                                up_block(self.base // 4, self.base // 8), up_block(self.base // 8, self.base // 16))
        self.image = nn.Sequential(conv3x3(self.base // 16, 3), nn.Tanh())

    def forward(self, embeddings, noise):
        condition, mu, log_variance = self.conditioning(embeddings)
        x = self.fc(torch.cat([noise, condition], 1)).view(-1, self.base, 4, 4)  # (B, 8gf, 4, 4)
        return self.image(self.up(x)), mu, log_variance  # (B, 3, 64, 64)


class ConditionalLogits(nn.Module):
    """(B, 8df, 4, 4) features + (B, Ng) code tiled 4x4 -> conv3x3 -> BN -> LReLU -> conv4x4 -> sigmoid."""

    def __init__(self, df: int, condition_dim: int = 128, conditional: bool = True):
        super().__init__()
        self.conditional = conditional
        if conditional:
            self.logits = nn.Sequential(conv3x3(8 * df + condition_dim, 8 * df), nn.BatchNorm2d(8 * df),
                                        nn.LeakyReLU(0.2, True), nn.Conv2d(8 * df, 1, 4, 4), nn.Sigmoid())
        else:
            self.logits = nn.Sequential(nn.Conv2d(8 * df, 1, 4, 4), nn.Sigmoid())

    def forward(self, features, code=None):
        if self.conditional:
            code = code[:, :, None, None].expand(-1, -1, features.shape[2], features.shape[3])
            features = torch.cat([features, code], 1)
        return self.logits(features).view(-1)


class Stage1Discriminator(nn.Module):
    def __init__(self, df: int = 64, condition_dim: int = 128):
        super().__init__()
        self.trunk = nn.Sequential(*down_block(3, df, normalize=False), *down_block(df, 2 * df),
                                   *down_block(2 * df, 4 * df), *down_block(4 * df, 8 * df))  # (B, 8df, 4, 4)
        self.head = ConditionalLogits(df, condition_dim)

    def forward(self, images, code):
        return self.head(self.trunk(images), code), None


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv3x3(channels, channels), nn.BatchNorm2d(channels), nn.ReLU(True),
                                  conv3x3(channels, channels), nn.BatchNorm2d(channels))

    def forward(self, x):
        return torch.relu(x + self.body(x))


class Stage2Generator(nn.Module):
    """Frozen Stage-I G (eval mode) -> 64x64 image -> encoder to 16x16 -> joint with the code ->
    4 residual blocks -> 4 up-blocks -> 256x256."""

    def __init__(self, stage1: Stage1Generator, embedding_dim: int = 1024, gf: int = 128, condition_dim: int = 128):
        super().__init__()
        self.stage1 = stage1.requires_grad_(False)
        self.conditioning = ConditioningAugmentation(embedding_dim, condition_dim)
        self.encoder = nn.Sequential(conv3x3(3, gf), nn.ReLU(True),
                                     nn.Conv2d(gf, 2 * gf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * gf), nn.ReLU(True),
                                     nn.Conv2d(2 * gf, 4 * gf, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * gf),
                                     nn.ReLU(True))
        self.joint = nn.Sequential(conv3x3(condition_dim + 4 * gf, 4 * gf), nn.BatchNorm2d(4 * gf), nn.ReLU(True))
        self.residual = nn.Sequential(*[ResidualBlock(4 * gf) for _ in range(4)])
        self.up = nn.Sequential(up_block(4 * gf, 2 * gf), up_block(2 * gf, gf), up_block(gf, gf // 2),
                                up_block(gf // 2, gf // 4))
        self.image = nn.Sequential(conv3x3(gf // 4, 3), nn.Tanh())

    def train(self, mode: bool = True):
        super().train(mode)
        self.stage1.eval()  # the frozen Stage-I keeps its BatchNorm statistics (the port's bug, not copied)
        return self

    def forward(self, embeddings, noise):
        with torch.no_grad():
            stage1_images, _, _ = self.stage1(embeddings, noise)
        x = self.encoder(stage1_images)  # (B, 4gf, 16, 16)
        condition, mu, log_variance = self.conditioning(embeddings)
        code = condition[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        x = self.residual(self.joint(torch.cat([x, code], 1)))
        return self.image(self.up(x)), mu, log_variance  # (B, 3, 256, 256)


class Stage2Discriminator(nn.Module):
    def __init__(self, df: int = 64, condition_dim: int = 128):
        super().__init__()
        blocks = down_block(3, df, normalize=False)
        for i in range(5):
            blocks += down_block(df * 2 ** i, df * 2 ** (i + 1))  # ... (B, 32df, 4, 4)
        blocks += [conv3x3(32 * df, 16 * df), nn.BatchNorm2d(16 * df), nn.LeakyReLU(0.2, True),
                   conv3x3(16 * df, 8 * df), nn.BatchNorm2d(8 * df), nn.LeakyReLU(0.2, True)]
        self.trunk = nn.Sequential(*blocks)
        self.head = ConditionalLogits(df, condition_dim)
        self.unconditional_head = ConditionalLogits(df, condition_dim, conditional=False)

    def forward(self, images, code):
        features = self.trunk(images)
        return self.head(features, code), self.unconditional_head(features)


def trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build(stage: int = 1, embedding_dim: int = 1024) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) at the official widths, trainable counts checked."""
    generator = Stage1Generator(embedding_dim)
    if stage == 2:
        generator = Stage2Generator(generator, embedding_dim)
        discriminator = Stage2Discriminator()
        expected, expected_d = STAGE2_G_PARAMETERS, STAGE2_D_PARAMETERS
    else:
        discriminator = Stage1Discriminator()
        expected, expected_d = STAGE1_G_PARAMETERS, STAGE1_D_PARAMETERS
    if trainable_parameters(discriminator) != expected_d:
        raise AssertionError(f"STAGE{stage}_D has {trainable_parameters(discriminator):,} trainable parameters, "
                             f"the official code {expected_d:,}")
    if trainable_parameters(generator) != expected:
        raise AssertionError(f"STAGE{stage}_G has {trainable_parameters(generator):,} trainable parameters, "
                             f"the official code {expected:,}")
    return generator, discriminator


class Trainer:
    """One official training step per `step(real, embeddings, wrong)` (NCHW float32 tensors)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, noise_dim: int = 100, kl_weight: float = 2.0):
        self.generator, self.discriminator = generator.train(), discriminator.train()
        self.noise_dim, self.kl_weight = noise_dim, kl_weight
        self.g_optimizer = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], 2e-4,
                                            betas=(0.5, 0.999))
        self.d_optimizer = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCELoss()

    def loss(self, probabilities, label: float):
        return self.bce(probabilities, torch.full_like(probabilities, label))

    def step(self, real, embeddings, wrong):
        noise = torch.randn(real.shape[0], self.noise_dim)
        fake, mu, log_variance = self.generator(embeddings, noise)
        code = mu.detach()

        self.d_optimizer.zero_grad(set_to_none=True)
        real_p, real_u = self.discriminator(real, code)
        wrong_p, _ = self.discriminator(wrong, code)
        fake_p, fake_u = self.discriminator(fake.detach(), code)
        if real_u is None:  # Stage-I: real + (wrong + fake) / 2
            d_loss = self.loss(real_p, 1.0) + 0.5 * (self.loss(wrong_p, 0.0) + self.loss(fake_p, 0.0))
        else:  # Stage-II: (real + uncond real) / 2 + (fake + wrong + uncond fake) / 3
            d_loss = ((self.loss(real_p, 1.0) + self.loss(real_u, 1.0)) / 2
                      + (self.loss(fake_p, 0.0) + self.loss(wrong_p, 0.0) + self.loss(fake_u, 0.0)) / 3)
        d_loss.backward()
        self.d_optimizer.step()

        self.g_optimizer.zero_grad(set_to_none=True)
        fake_p, fake_u = self.discriminator(fake, code)
        kl = torch.mean(-0.5 * (1 + log_variance - mu.pow(2) - log_variance.exp()))
        g_loss = self.loss(fake_p, 1.0) + self.kl_weight * kl
        if fake_u is not None:
            g_loss = g_loss + self.loss(fake_u, 1.0)
        g_loss.backward()
        self.g_optimizer.step()
        return d_loss.item(), g_loss.item()
