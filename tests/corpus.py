"""The architecture corpus: small PyTorch encoder-decoders exported to ONNX on demand.

Each entry of :data:`MODELS` builds one model at a fixed seed, with a dummy input
and export options; :class:`Corpus` exports it the first time a test asks for
it (TorchScript ``dynamo=False`` by default, ``dynamo=True`` for the ``*_dynamo``
entries, weights inlined) and caches the path for the session. Channels are kept
small so the whole corpus exports in about a minute on 2 cores.

The committed Keras exports live in ``tests/data/keras/`` (made by
``tests/data/keras/make_keras_corpus.py``, which needs TensorFlow).

Run directly to write every model into a folder and time it::

    python -m tests.corpus /tmp/corpus
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

SEED = 0
OPSET = 17
KERAS_DIR = Path(__file__).resolve().parent / "data" / "keras"


def _torch():
    import torch  # imported lazily: collecting the tests must not need torch
    from torch import nn
    import torch.nn.functional as F

    return torch, nn, F


# ---------------------------------------------------------------------------
# Model definitions (built inside functions so torch is imported lazily)

def _double(nn, cin: int, cout: int, pad: int = 1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=pad), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=pad), nn.ReLU())


def unet(out_channels: int = 1, pad: int = 1, crop: bool = False, widths=(4, 8, 16, 32, 64)):
    """A 4-level U-Net: double 3x3 convs, max-pool, ConvTranspose k2 s2, Concat skips.

    ``pad=0, crop=True`` is the original design (Ronneberger et al. 2015): valid
    convs, and each skip centre-cropped to the decoder's size before the Concat.
    """
    torch, nn, F = _torch()
    c1, c2, c3, c4, c5 = widths

    def center_crop(t, like):
        h, w = like.shape[-2:]
        dy, dx = (t.shape[-2] - h) // 2, (t.shape[-1] - w) // 2
        return t[:, :, dy:dy + h, dx:dx + w]

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.pool1 = _double(nn, 1, c1, pad), nn.MaxPool2d(2)
            self.enc2, self.pool2 = _double(nn, c1, c2, pad), nn.MaxPool2d(2)
            self.enc3, self.pool3 = _double(nn, c2, c3, pad), nn.MaxPool2d(2)
            self.enc4, self.pool4 = _double(nn, c3, c4, pad), nn.MaxPool2d(2)
            self.bottleneck = _double(nn, c4, c5, pad)
            self.up4, self.dec4 = nn.ConvTranspose2d(c5, c4, 2, stride=2), _double(nn, 2 * c4, c4, pad)
            self.up3, self.dec3 = nn.ConvTranspose2d(c4, c3, 2, stride=2), _double(nn, 2 * c3, c3, pad)
            self.up2, self.dec2 = nn.ConvTranspose2d(c3, c2, 2, stride=2), _double(nn, 2 * c2, c2, pad)
            self.up1, self.dec1 = nn.ConvTranspose2d(c2, c1, 2, stride=2), _double(nn, 2 * c1, c1, pad)
            self.head = nn.Conv2d(c1, out_channels, 1)

        def merge(self, skip, x):
            if crop:
                skip = center_crop(skip, x)
            return torch.cat([skip, x], dim=1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool1(e1))
            e3 = self.enc3(self.pool2(e2))
            e4 = self.enc4(self.pool3(e3))
            b = self.bottleneck(self.pool4(e4))
            d4 = self.dec4(self.merge(e4, self.up4(b)))
            d3 = self.dec3(self.merge(e3, self.up3(d4)))
            d2 = self.dec2(self.merge(e2, self.up2(d3)))
            d1 = self.dec1(self.merge(e1, self.up1(d2)))
            return self.head(d1)

    return UNet()


def add_unet():
    """A 3-level U-Net whose skips are residual additions instead of Concat."""
    torch, nn, F = _torch()

    class AddUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.pool1 = _double(nn, 1, 8), nn.MaxPool2d(2)
            self.enc2, self.pool2 = _double(nn, 8, 16), nn.MaxPool2d(2)
            self.enc3, self.pool3 = _double(nn, 16, 32), nn.MaxPool2d(2)
            self.bottleneck = _double(nn, 32, 64)
            self.up3, self.dec3 = nn.ConvTranspose2d(64, 32, 2, stride=2), _double(nn, 32, 32)
            self.up2, self.dec2 = nn.ConvTranspose2d(32, 16, 2, stride=2), _double(nn, 16, 16)
            self.up1, self.dec1 = nn.ConvTranspose2d(16, 8, 2, stride=2), _double(nn, 8, 8)
            self.head = nn.Conv2d(8, 1, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool1(e1))
            e3 = self.enc3(self.pool2(e2))
            b = self.bottleneck(self.pool3(e3))
            d3 = self.dec3(self.up3(b) + e3)
            d2 = self.dec2(self.up2(d3) + e2)
            d1 = self.dec1(self.up1(d2) + e1)
            return self.head(d1)

    return AddUNet()


def unet_pp(widths=(4, 8, 16, 32)):
    """U-Net++ of depth 3 (Zhou et al. 2018): nested dense skip paths.

    Node X^{i,j} = double conv(concat(X^{i,0}, ..., X^{i,j-1}, up(X^{i+1,j-1}))); the
    longest path runs down X^{0,0}..X^{3,0} and back up X^{2,1}, X^{1,2}, X^{0,3}.
    Bilinear x2 upsampling with align_corners=True, as in the paper's code.
    """
    torch, nn, F = _torch()
    c0, c1, c2, c3 = widths

    class UNetPP(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(2)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv0_0, self.conv1_0 = _double(nn, 1, c0), _double(nn, c0, c1)
            self.conv2_0, self.conv3_0 = _double(nn, c1, c2), _double(nn, c2, c3)
            self.conv0_1, self.conv1_1 = _double(nn, c0 + c1, c0), _double(nn, c1 + c2, c1)
            self.conv2_1 = _double(nn, c2 + c3, c2)
            self.conv0_2, self.conv1_2 = _double(nn, 2 * c0 + c1, c0), _double(nn, 2 * c1 + c2, c1)
            self.conv0_3 = _double(nn, 3 * c0 + c1, c0)
            self.final = nn.Conv2d(c0, 1, 1)

        def forward(self, x):
            x0_0 = self.conv0_0(x)
            x1_0 = self.conv1_0(self.pool(x0_0))
            x0_1 = self.conv0_1(torch.cat([x0_0, self.up(x1_0)], 1))
            x2_0 = self.conv2_0(self.pool(x1_0))
            x1_1 = self.conv1_1(torch.cat([x1_0, self.up(x2_0)], 1))
            x0_2 = self.conv0_2(torch.cat([x0_0, x0_1, self.up(x1_1)], 1))
            x3_0 = self.conv3_0(self.pool(x2_0))
            x2_1 = self.conv2_1(torch.cat([x2_0, self.up(x3_0)], 1))
            x1_2 = self.conv1_2(torch.cat([x1_0, x1_1, self.up(x2_1)], 1))
            x0_3 = self.conv0_3(torch.cat([x0_0, x0_1, x0_2, self.up(x1_2)], 1))
            return self.final(x0_3)

    return UNetPP()


def attention_unet(widths=(4, 8, 16, 32)):
    """Attention U-Net (Oktay et al. 2018) with 3 levels.

    Each skip x is multiplied by a gate: psi(relu(W_g g + W_x x)), 1x1 convs to
    ``inter`` channels, then a 1x1 conv to 1 channel and a sigmoid; g is the
    upsampled decoder tensor (nearest x2 + conv). The gated skip is concatenated
    with g and read by a double conv.
    """
    torch, nn, F = _torch()
    c1, c2, c3, c4 = widths

    class Gate(nn.Module):
        def __init__(self, channels: int, inter: int):
            super().__init__()
            self.wg, self.wx = nn.Conv2d(channels, inter, 1), nn.Conv2d(channels, inter, 1)
            self.psi = nn.Conv2d(inter, 1, 1)

        def forward(self, g, x):
            return x * torch.sigmoid(self.psi(F.relu(self.wg(g) + self.wx(x))))

    def up(cin, cout):
        return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())

    class AttUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(2)
            self.enc1, self.enc2 = _double(nn, 1, c1), _double(nn, c1, c2)
            self.enc3, self.bottleneck = _double(nn, c2, c3), _double(nn, c3, c4)
            self.up3, self.att3, self.dec3 = up(c4, c3), Gate(c3, c2), _double(nn, 2 * c3, c3)
            self.up2, self.att2, self.dec2 = up(c3, c2), Gate(c2, c1), _double(nn, 2 * c2, c2)
            self.up1, self.att1, self.dec1 = up(c2, c1), Gate(c1, c1 // 2), _double(nn, 2 * c1, c1)
            self.head = nn.Conv2d(c1, 1, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            e3 = self.enc3(self.pool(e2))
            b = self.bottleneck(self.pool(e3))
            d3 = self.up3(b)
            d3 = self.dec3(torch.cat([self.att3(d3, e3), d3], 1))
            d2 = self.up2(d3)
            d2 = self.dec2(torch.cat([self.att2(d2, e2), d2], 1))
            d1 = self.up1(d2)
            d1 = self.dec1(torch.cat([self.att1(d1, e1), d1], 1))
            return self.head(d1)

    return AttUNet()


def aspp_net():
    """DeepLab-style segmenter: three stride-2 convs, a dilated conv, ASPP, one x8 resize.

    ASPP: a 1x1 conv, a dilated 3x3 conv and an image-level branch (global average
    pool, 1x1 conv, bilinear resize back to the feature map's size) concatenated and
    projected; a 1x1 classifier, then a bilinear resize to the input's size.
    """
    torch, nn, F = _torch()

    def conv(cin, cout, k=3, stride=1, dilation=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation=dilation),
                             nn.ReLU())

    class ASPPNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(conv(3, 8, stride=2), conv(8, 16, stride=2),
                                          conv(16, 32, stride=2), conv(32, 32, dilation=2))
            self.b0, self.b1 = conv(32, 16, k=1), conv(32, 16, dilation=6)
            self.image = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 16, 1), nn.ReLU())
            self.project, self.cls = conv(48, 16, k=1), nn.Conv2d(16, 4, 1)

        def forward(self, x):
            f = self.backbone(x)
            g = F.interpolate(self.image(f), size=f.shape[-2:], mode="bilinear", align_corners=False)
            y = self.cls(self.project(torch.cat([self.b0(f), self.b1(f), g], 1)))
            return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)

    return ASPPNet()


def strided(kernel: int):
    """Strided-conv encoder, ConvTranspose decoder.

    ``kernel=3``: Conv k3 s2 p1 / ConvTranspose k3 s2 p1 output_padding=1 (3 % 2 != 0);
    ``kernel=4``: Conv k4 s2 p1 / ConvTranspose k4 s2 p1 (the DCGAN shape, 4 % 2 == 0).
    """
    torch, nn, F = _torch()
    op = 1 if kernel == 3 else 0

    class Strided(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                nn.Conv2d(4, 8, kernel, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(8, 8, kernel, stride=2, padding=1), nn.ReLU())
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(8, 8, kernel, stride=2, padding=1, output_padding=op), nn.ReLU(),
                nn.ConvTranspose2d(8, 4, kernel, stride=2, padding=1, output_padding=op), nn.ReLU(),
                nn.Conv2d(4, 1, 3, padding=1))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return Strided()


def conv1d_ae():
    """Conv1d autoencoder on a signal of length 100: the last pool rounds 25 up to 13."""
    torch, nn, F = _torch()

    class Conv1dAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv1d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                nn.Conv1d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                nn.Conv1d(8, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True))
            self.decoder = nn.Sequential(
                nn.Upsample(scale_factor=2), nn.Conv1d(4, 8, 3, padding=1), nn.ReLU(),
                nn.Upsample(scale_factor=2), nn.Conv1d(8, 8, 3, padding=1), nn.ReLU(),
                nn.Upsample(scale_factor=2), nn.Conv1d(8, 1, 3, padding=1))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return Conv1dAE()


def conv3d_ae():
    """Conv3d autoencoder on 16x32x32 volumes; the first pool halves H and W only."""
    torch, nn, F = _torch()

    class Conv3dAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
                nn.Conv3d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2))
            self.decoder = nn.Sequential(
                nn.Upsample(scale_factor=2), nn.Conv3d(8, 4, 3, padding=1), nn.ReLU(),
                nn.Upsample(scale_factor=(1, 2, 2)), nn.Conv3d(4, 1, 3, padding=1))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return Conv3dAE()


def pixel_shuffle_ae():
    """PixelUnshuffle (SpaceToDepth) encoder, conv + PixelShuffle (DepthToSpace) decoder."""
    torch, nn, F = _torch()

    class PixelShuffleAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.PixelUnshuffle(2),
                nn.Conv2d(8, 2, 3, padding=1), nn.ReLU(), nn.PixelUnshuffle(2))
            self.decoder = nn.Sequential(
                nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.PixelShuffle(2),
                nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.PixelShuffle(2),
                nn.Conv2d(2, 1, 3, padding=1))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return PixelShuffleAE()


def bilinear_ae():
    """Max-pool encoder, bilinear (align_corners=False) x2 upsampling decoder."""
    torch, nn, F = _torch()

    class BilinearAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.decoder = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(8, 1, 3, padding=1))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return BilinearAE()


def resize_to_skip_unet():
    """A 3-level U-Net that resizes to the skip's size (``size=skip.shape[-2:]``).

    At 28x28 the third pool rounds 7 down to 3, and the resize back to the
    skip's 7x7 repairs it: the classic "works for any size" U-Net.
    """
    torch, nn, F = _torch()

    def conv(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())

    class ResizeUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.pool1 = conv(1, 8), nn.MaxPool2d(2)
            self.enc2, self.pool2 = conv(8, 16), nn.MaxPool2d(2)
            self.enc3, self.pool3 = conv(16, 32), nn.MaxPool2d(2)
            self.mid = conv(32, 32)
            self.dec3, self.dec2, self.dec1 = conv(64, 16), conv(32, 8), conv(16, 8)
            self.head = nn.Conv2d(8, 1, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool1(e1))
            e3 = self.enc3(self.pool2(e2))
            m = self.mid(self.pool3(e3))
            d3 = self.dec3(torch.cat([F.interpolate(m, size=e3.shape[-2:]), e3], 1))
            d2 = self.dec2(torch.cat([F.interpolate(d3, size=e2.shape[-2:]), e2], 1))
            d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:]), e1], 1))
            return self.head(d1)

    return ResizeUNet()


def widening_unet():
    """A 2-level U-Net whose decoder convs read the skip Concat and narrow it: dec2
    (32→16) has no channel-map relation to enc2 (8→16), only the skip. A transposed
    conv returns level 2, a bilinear resize (align_corners) level 1."""
    torch, nn, F = _torch()

    class WideningUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.enc2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
            self.mid = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
            self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
            self.dec2 = nn.Sequential(nn.Conv2d(32, 16, 3, padding=1), nn.ReLU())
            self.dec1 = nn.Sequential(nn.Conv2d(24, 8, 3, padding=1), nn.ReLU())
            self.head = nn.Conv2d(8, 3, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(F.max_pool2d(e1, 2))
            m = self.mid(F.max_pool2d(e2, 2))
            d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
            d2 = F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=True)
            return torch.sigmoid(self.head(self.dec1(torch.cat([d2, e1], 1))))

    return WideningUNet()


def crop_ae():
    """Stride-2 convs 30 → 15 → 8, transposed convs 8 → 16 → 32, ``y[:, :, 1:-1, 1:-1]``
    back to 30 (one crop, which both torch exporters write as a Slice per axis), a head."""
    torch, nn, F = _torch()

    class CropAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.d1 = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU())
            self.d2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
            self.u2 = nn.ConvTranspose2d(16, 8, 2, stride=2)
            self.u1 = nn.ConvTranspose2d(8, 4, 2, stride=2)
            self.head = nn.Conv2d(4, 1, 3, padding=1)

        def forward(self, x):
            y = self.u1(F.relu(self.u2(self.d2(self.d1(x)))))
            return self.head(F.relu(y[:, :, 1:-1, 1:-1]))

    return CropAE()


def vae(size: int = 28, widths=(8, 16), latent: int = 16):
    """Conv encoder -> Flatten -> Linear mu / logvar -> reparameterize -> Linear ->
    Unflatten -> ConvTranspose decoder; returns (recon, mu, logvar)."""
    torch, nn, F = _torch()
    c1, c2 = widths
    s = size // 4
    flat = c2 * s * s

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(), nn.Flatten())
            self.fc_mu = nn.Linear(flat, latent)
            self.fc_logvar = nn.Linear(flat, latent)
            self.fc_dec = nn.Linear(latent, flat)
            self.decoder = nn.Sequential(
                nn.Unflatten(1, (c2, s, s)),
                nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1), nn.Sigmoid())

        def forward(self, x):
            h = self.encoder(x)
            mu, logvar = self.fc_mu(h), self.fc_logvar(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.decoder(self.fc_dec(z)), mu, logvar

    return VAE()


def conv_vae():
    """A VAE whose latent is a map: strided convs 32 → 16 → 8 → 4 to 64 channels, 1×1 convs
    to mu / logvar (8 channels), z = mu + exp(logvar / 2) * eps with eps a second input,
    transposed convs back; returns (recon, mu, logvar)."""
    torch, nn, F = _torch()

    class ConvVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(
                nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU())
            self.mu, self.logvar = nn.Conv2d(64, 8, 1), nn.Conv2d(64, 8, 1)
            self.dec = nn.Sequential(
                nn.ConvTranspose2d(8, 64, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(16, 1, 3, padding=1), nn.Sigmoid())

        def forward(self, x, eps):
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h)
            return self.dec(mu + torch.exp(0.5 * logvar) * eps), mu, logvar

    return ConvVAE()


def norm_act_ae():
    """BatchNorm, Dropout, LeakyReLU / PReLU / GELU / SiLU around a mirrored AE."""
    torch, nn, F = _torch()

    class NormActAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.PReLU(), nn.Dropout(0.2),
                nn.MaxPool2d(2))
            self.decoder = nn.Sequential(
                nn.Upsample(scale_factor=2), nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8),
                nn.GELU(), nn.Dropout(0.2),
                nn.Upsample(scale_factor=2), nn.Conv2d(8, 1, 3, padding=1), nn.SiLU())

        def forward(self, x):
            return self.decoder(self.encoder(x))

    model = NormActAE()
    # non-trivial running statistics, so the folded BatchNorm changes the weights
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


def classifier():
    """conv -> pool -> conv -> pool -> flatten -> linear -> softmax: no decoder."""
    torch, nn, F = _torch()
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10), nn.Softmax(dim=1))


def circular_ae():
    """Convs with padding_mode circular (TorchScript: a Concat of slices per axis),
    replicate and reflect, and a dilated conv at the bottleneck."""
    torch, nn, F = _torch()

    class CircularAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1, padding_mode="circular"), nn.ReLU(),
                nn.Conv2d(8, 16, 4, 2, 1, padding_mode="replicate"), nn.ReLU(),
                nn.Conv2d(16, 16, 3, padding=2, dilation=2), nn.ReLU())
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
                nn.Conv2d(8, 1, 3, padding=1, padding_mode="circular"))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return CircularAE()


def separable_ae():
    """Depthwise separable convs: MobileNet blocks (depthwise, BatchNorm, ReLU, 1×1) in the
    encoder, one with a channel multiplier of 2; Keras SeparableConv2D style (depthwise
    then 1×1, nothing between) in the decoder, after transposed convs."""
    torch, nn, F = _torch()

    def mobile(cin, cout, stride, mult=1):
        return nn.Sequential(
            nn.Conv2d(cin, cin * mult, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin * mult),
            nn.ReLU(), nn.Conv2d(cin * mult, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def separable(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin), nn.Conv2d(cin, cout, 1), nn.ReLU())

    class SeparableAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                                         mobile(16, 32, 2, mult=2), mobile(32, 64, 2))
            self.decoder = nn.Sequential(nn.ConvTranspose2d(64, 32, 2, 2), separable(32, 32),
                                         nn.ConvTranspose2d(32, 16, 2, 2), separable(16, 16),
                                         nn.Conv2d(16, 3, 3, padding=1))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return SeparableAE()


def vq_vae(codes: int = 64, dim: int = 16):
    """VQ-VAE: each bottleneck pixel's vector replaced by its nearest codebook entry
    (distances as a MatMul over N·H·W rows, ArgMin, an embedding Gather, and the
    straight-through z + (q - z).detach())."""
    torch, nn, F = _torch()

    class VQVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(3, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, dim, 4, 2, 1))
            self.codebook = nn.Embedding(codes, dim)
            self.decoder = nn.Sequential(nn.ConvTranspose2d(dim, 32, 4, 2, 1), nn.ReLU(),
                                         nn.ConvTranspose2d(32, 3, 4, 2, 1))

        def forward(self, x):
            z = self.encoder(x)
            b, d, h, w = z.shape
            flat = z.permute(0, 2, 3, 1).reshape(-1, d)
            book = self.codebook.weight
            dist = (flat ** 2).sum(1, keepdim=True) - 2 * flat @ book.t() + (book ** 2).sum(1)
            q = self.codebook(dist.argmin(1)).view(b, h, w, d).permute(0, 3, 1, 2)
            return self.decoder(z + (q - z).detach())

    return VQVAE()


def patch_transformer_ae(patch: int = 4, dim: int = 32):
    """ViT-style: a patch-embedding conv (stride = kernel = 4), a learned position
    embedding, one nn.TransformerEncoderLayer over the 8×8 tokens (sequence-first inside
    MultiheadAttention, its out_proj a Gemm over L·N rows), back to the map, and a
    transposed conv of the same stride."""
    torch, nn, F = _torch()

    class PatchAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(3, dim, patch, patch)
            self.pos = nn.Parameter(torch.zeros(1, 64, dim))
            self.block = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.0, batch_first=True)
            self.head = nn.ConvTranspose2d(dim, 3, patch, patch)

        def forward(self, x):
            z = self.embed(x)
            b, c, h, w = z.shape
            tokens = self.block(z.flatten(2).transpose(1, 2) + self.pos)
            return self.head(tokens.transpose(1, 2).reshape(b, c, h, w))

    return PatchAE()


def strided_upsample_ae():
    """Strided convs down (k3 s2 p1), bilinear upsampling + conv up: the decoder conv after
    each upsampling inverts the strided conv between the same two levels."""
    torch, nn, F = _torch()

    class StridedUpsampleAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.down1, self.down2 = nn.Conv2d(3, 16, 3, 2, 1), nn.Conv2d(16, 32, 3, 2, 1)
            self.up2, self.up1 = nn.Conv2d(32, 16, 3, padding=1), nn.Conv2d(16, 3, 3, padding=1)

        def forward(self, x):
            z = F.relu(self.down2(F.relu(self.down1(x))))
            z = F.relu(self.up2(F.interpolate(z, scale_factor=2.0, mode="bilinear")))
            return self.up1(F.interpolate(z, scale_factor=2.0, mode="bilinear"))

    return StridedUpsampleAE()


def naf_unet(width: int = 8):
    """NAFNet-style restoration U-Net: LayerNorm2d (permute, LayerNorm over the channels,
    permute back), a SimpleGate (x.chunk(2, 1) multiplied), a simplified channel attention
    (global average pool, 1×1 conv, times the map), residual Adds; 2×2 strided convs
    down, 1×1 conv + PixelShuffle up, skip Adds and a global residual."""
    torch, nn, F = _torch()

    class LayerNorm2d(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.ln = nn.LayerNorm(c)

        def forward(self, x):
            return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = LayerNorm2d(c)
            self.expand = nn.Conv2d(c, 2 * c, 1)
            self.dw = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
            self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1))
            self.project = nn.Conv2d(c, c, 1)

        def forward(self, x):
            a, b = self.dw(self.expand(self.norm(x))).chunk(2, 1)
            y = a * b
            return x + self.project(y * self.sca(y))

    class NAFUNet(nn.Module):
        def __init__(self):
            c = width
            super().__init__()
            self.intro = nn.Conv2d(3, c, 3, padding=1)
            self.enc1, self.down1 = Block(c), nn.Conv2d(c, 2 * c, 2, 2)
            self.enc2, self.down2 = Block(2 * c), nn.Conv2d(2 * c, 4 * c, 2, 2)
            self.mid = Block(4 * c)
            self.up2 = nn.Sequential(nn.Conv2d(4 * c, 8 * c, 1, bias=False), nn.PixelShuffle(2))
            self.dec2 = Block(2 * c)
            self.up1 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 1, bias=False), nn.PixelShuffle(2))
            self.dec1 = Block(c)
            self.ending = nn.Conv2d(c, 3, 3, padding=1)

        def forward(self, x):
            a = self.enc1(self.intro(x))
            b = self.enc2(self.down1(a))
            y = self.dec2(self.up2(self.mid(self.down2(b))) + b)
            return self.ending(self.dec1(self.up1(y) + a)) + x

    return NAFUNet()


def swin_unet(width: int = 8, window: int = 4, heads: int = 2):
    """Swin-style window attention at every level of a small U-Net: LayerNorm on the
    channels-last view, window partition (B, H/4, 4, W/4, 4, C) -> (B·nW, 16, C), qkv and
    projection Linears, attention within each 4×4 window (16×16 scores, which on the
    16×16 level have the map's sizes), window reverse, residual Add."""
    torch, nn, F = _torch()

    class WindowAttention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm, self.qkv, self.proj = nn.LayerNorm(c), nn.Linear(c, 3 * c), nn.Linear(c, c)

        def forward(self, x):
            b, c, h, w = x.shape
            ws, n = window, window * window
            t = self.norm(x.permute(0, 2, 3, 1))
            t = t.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, n, c)
            q, k, v = self.qkv(t).reshape(t.shape[0], n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            scores = (q @ k.transpose(-2, -1) * (c // heads) ** -0.5).softmax(-1)
            o = self.proj((scores @ v).transpose(1, 2).reshape(-1, n, c))
            o = o.reshape(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
            return x + o.permute(0, 3, 1, 2)

    class SwinUNet(nn.Module):
        def __init__(self):
            super().__init__()
            c = width
            self.embed, self.block1 = nn.Conv2d(3, c, 3, padding=1), WindowAttention(c)
            self.down, self.block2 = nn.Conv2d(c, 2 * c, 2, 2), WindowAttention(2 * c)
            self.up, self.block3 = nn.ConvTranspose2d(2 * c, c, 2, 2), WindowAttention(c)
            self.head = nn.Conv2d(c, 3, 3, padding=1)

        def forward(self, x):
            a = self.block1(self.embed(x))
            return self.head(self.block3(self.up(self.block2(self.down(a))) + a))

    return SwinUNet()


def plain_ae(dec_widths=(8,), enc_widths=(8, 16), dec_kernel: int = 3):
    """Max-pool encoder / nearest-upsample decoder with knobs for asymmetries.

    encoder: conv(1->e1) pool conv(e1->e2) pool [conv(e2->e3) pool]
    decoder: per level up + conv, the last conv back to 1 channel.
    """
    torch, nn, F = _torch()
    enc, cin = [], 1
    for w in enc_widths:
        enc += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        cin = w
    dec = []
    outs = list(dec_widths) + [1]
    k = dec_kernel
    for i, w in enumerate(outs):
        last = i == len(outs) - 1
        kk = 3 if last else k
        dec += [nn.Upsample(scale_factor=2), nn.Conv2d(cin, w, kk, padding=kk // 2)]
        if not last:
            dec.append(nn.ReLU())
        cin = w

    class PlainAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(*enc)
            self.decoder = nn.Sequential(*dec)

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return PlainAE()


def conditioned_ae():
    """Two inputs: a conditioning vector (first) and an image; the vector is added
    to the bottleneck through a Linear (FiLM-style bias)."""
    torch, nn, F = _torch()

    class CondAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.film = nn.Linear(4, 8)
            self.decoder = nn.Sequential(
                nn.Upsample(scale_factor=2), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                nn.Upsample(scale_factor=2), nn.Conv2d(8, 1, 3, padding=1))

        def forward(self, cond, image):
            h = self.encoder(image) + self.film(cond).view(-1, 8, 1, 1)
            return self.decoder(h)

    return CondAE()


def pad_unet(widths=(4, 8, 16, 32)):
    """A 3-level U-Net whose Up blocks pad the upsampled map to the skip's size with
    ``F.pad``, the pads computed from the size difference (the popular PyTorch U-Net's
    ``Up.forward``). At 28×28 the third pool rounds 7 down to 3 and the pad repairs 6 to 7.
    """
    torch, nn, F = _torch()
    c1, c2, c3, c4 = widths

    class Up(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
            self.conv = _double(nn, cin, cout)

        def forward(self, x1, x2):
            x1 = self.up(x1)
            dy = x2.size()[2] - x1.size()[2]
            dx = x2.size()[3] - x1.size()[3]
            x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            return self.conv(torch.cat([x2, x1], dim=1))

    class PadUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inc = _double(nn, 1, c1)
            self.down1 = nn.Sequential(nn.MaxPool2d(2), _double(nn, c1, c2))
            self.down2 = nn.Sequential(nn.MaxPool2d(2), _double(nn, c2, c3))
            self.down3 = nn.Sequential(nn.MaxPool2d(2), _double(nn, c3, c4))
            self.up1, self.up2, self.up3 = Up(c4, c3), Up(c3, c2), Up(c2, c1)
            self.outc = nn.Conv2d(c1, 1, 1)

        def forward(self, x):
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            x4 = self.down3(x3)
            return self.outc(self.up3(self.up2(self.up1(x4, x3), x2), x1))

    return PadUNet()


def zero_pad_ae():
    """TensorFlow-style 'same' striding in PyTorch: ``nn.ZeroPad2d((0, 1, 0, 1))`` before
    each valid 3×3 stride-2 conv (33 → 16 at 32×32), ConvTranspose k2 s2 decoder."""
    torch, nn, F = _torch()
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(4, 8, 3, stride=2), nn.ReLU(),
        nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 2, stride=2), nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 2, stride=2), nn.ReLU(),
        nn.Conv2d(4, 1, 3, padding=1))


def reflect_pad_ae():
    """``nn.ReflectionPad2d(1)`` + valid 3×3 convs, average pools (the second with
    ceil_mode: 15 → 8 at 30×30), bilinear upsampling and a valid 2×2 conv that trims
    16 back to 15."""
    torch, nn, F = _torch()

    class ReflectPadAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(1, 8, 3), nn.ReLU())
            self.p1 = nn.AvgPool2d(2)
            self.c2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(8, 16, 3), nn.ReLU())
            self.p2 = nn.AvgPool2d(2, ceil_mode=True)
            self.c3 = nn.Conv2d(16, 16, 1)
            self.up2 = nn.Upsample(scale_factor=2, mode="bilinear")
            self.c4 = nn.Conv2d(16, 8, 2)
            self.up1 = nn.Upsample(scale_factor=2, mode="bilinear")
            self.c5 = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, x):
            h = self.p2(self.c2(self.p1(self.c1(x))))
            h = F.relu(self.c4(self.up2(F.relu(self.c3(h)))))
            return self.c5(self.up1(h))

    return ReflectPadAE()


def odd_ae():
    """An odd 27×27 input: ``nn.ZeroPad2d((0, 1, 0, 1))`` then a valid 3×3 stride-2 conv
    (28 → 13), a max-pool (13 → 6), and two ConvTranspose k2 s2 (6 → 12 → 24)."""
    torch, nn, F = _torch()

    class OddAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 3, padding=1)
            self.pad = nn.ZeroPad2d((0, 1, 0, 1))
            self.c2 = nn.Conv2d(8, 16, 3, stride=2)
            self.pool = nn.MaxPool2d(2)
            self.c3 = nn.Conv2d(16, 16, 3, padding=1)
            self.up1 = nn.ConvTranspose2d(16, 16, 2, stride=2)
            self.up2 = nn.ConvTranspose2d(16, 8, 2, stride=2)
            self.out = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, x):
            h = self.c2(self.pad(self.c1(x)))
            h = self.c3(self.pool(h))
            return self.out(self.up2(self.up1(h)))

    return OddAE()
def groupnorm_ae():
    """GroupNorm + SiLU around strided convs and transposed convs (the diffusion-VAE
    style), with a pre-norm residual block at the bottleneck: GroupNorm reads a tensor
    the residual Add reads too, so it cannot join the conv before it."""
    torch, nn, F = _torch()

    class GroupNormAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.n1 = nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(2, 8)
            self.c2, self.n2 = nn.Conv2d(8, 16, 4, stride=2, padding=1), nn.GroupNorm(4, 16)
            self.c3, self.n3 = nn.Conv2d(16, 8, 4, stride=2, padding=1), nn.GroupNorm(2, 8)
            self.rn, self.rc = nn.GroupNorm(2, 8), nn.Conv2d(8, 8, 3, padding=1)
            self.u3, self.m3 = nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1), nn.GroupNorm(4, 16)
            self.u2, self.m2 = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.GroupNorm(2, 8)
            self.head = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, x):
            h = F.silu(self.n1(self.c1(x)))
            h = F.silu(self.n2(self.c2(h)))
            h = F.silu(self.n3(self.c3(h)))
            h = h + self.rc(F.silu(self.rn(h)))
            h = F.silu(self.m3(self.u3(h)))
            h = F.silu(self.m2(self.u2(h)))
            return self.head(h)

    return GroupNormAE()


def attention_ae(style: str = "conv"):
    """Strided-conv encoder (3×32×32 → 16×8×8), single-head self-attention over the
    bottleneck's 8×8 positions with a residual Add, transposed-conv decoder.

    ``style="conv"``: 1×1 conv q, k, v on the map, each flattened to ``N×C×HW``,
    ``softmax(qᵀk)`` and ``v·aᵀ`` reshaped back to ``N×C×H×W``.
    ``style="qkv"``: one 1×1 conv to 3C channels reshaped to ``N×3×C×HW`` and
    unbound into q, k, v (the diffusion U-Net's block), then as ``"conv"``.
    ``style="tokens"``: the map as tokens ``N×HW×C`` (flatten, transpose) through
    Linear q, v and out projections, as Stable Diffusion's VAE writes it, with the
    keys ``N×C×HW`` from a 1×1 conv, so no MatMul reads a transposed view
    (``q @ k.transpose(1, 2)`` meets a separate MatMul shape bug).
    """
    torch, nn, F = _torch()

    class AttentionAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(3, 8, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(8, 16, 4, stride=2, padding=1), nn.ReLU())
            if style == "qkv":
                self.qkv = nn.Conv2d(16, 48, 1)
            elif style == "tokens":
                self.q, self.v, self.proj = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 16)
                self.k = nn.Conv2d(16, 16, 1)
            else:
                self.q, self.k, self.v = nn.Conv2d(16, 16, 1), nn.Conv2d(16, 16, 1), nn.Conv2d(16, 16, 1)
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1), nn.Sigmoid())

        def attend(self, h):
            b, c, hh, ww = h.shape
            if style == "tokens":
                t = h.flatten(2).transpose(1, 2)  # N×HW×C
                a = torch.softmax(self.q(t) @ self.k(h).flatten(2) / c ** 0.5, dim=-1)
                return self.proj(a @ self.v(t)).transpose(1, 2).reshape(b, c, hh, ww)
            if style == "qkv":
                q, k, v = self.qkv(h).reshape(b, 3, c, hh * ww).unbind(1)  # N×C×HW each
            else:
                q, k, v = (m(h).flatten(2) for m in (self.q, self.k, self.v))
            a = torch.softmax(q.transpose(1, 2) @ k / c ** 0.5, dim=-1)
            return (v @ a.transpose(1, 2)).reshape(b, c, hh, ww)

        def forward(self, x):
            h = self.encoder(x)
            return self.decoder(h + self.attend(h))

    return AttentionAE()


def convnext_ae():
    """ConvNeXt-style encoder, transposed-conv decoder (3×32×32 → 32×4×4 → 3×32×32).

    Stem: Conv2d(3, 16, 4, stride 4) then a channels-last LayerNorm (permute to
    NHWC, ``LayerNorm(C)``, permute back). Each block: depthwise 7×7 conv, permute
    to NHWC, ``LayerNorm(C)``, ``Linear(C, 4C)``, GELU, ``Linear(4C, C)``, a learned
    per-channel scale, permute back, residual Add: the Linear layers mix channels at
    every position (1×1 convs written as MatMuls over the last axis). Down: a
    channels-last LayerNorm, then Conv2d(16, 32, 2, stride 2). Decoder:
    ConvTranspose2d(32, 16, 2, 2), GELU, ConvTranspose2d(16, 3, 4, 4).
    """
    torch, nn, F = _torch()

    class Block(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
            self.ln = nn.LayerNorm(c)
            self.pw1, self.pw2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
            self.gamma = nn.Parameter(torch.full((c,), 0.1))

        def forward(self, x):
            y = self.dw(x).permute(0, 2, 3, 1)  # N×H×W×C
            y = self.gamma * self.pw2(F.gelu(self.pw1(self.ln(y))))
            return x + y.permute(0, 3, 1, 2)

    class LayerNorm2d(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.ln = nn.LayerNorm(c)

        def forward(self, x):
            return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class ConvNeXtAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), LayerNorm2d(16))
            self.s1 = Block(16)
            self.down = nn.Sequential(LayerNorm2d(16), nn.Conv2d(16, 32, 2, stride=2))
            self.s2 = Block(32)
            self.up = nn.Sequential(nn.ConvTranspose2d(32, 16, 2, stride=2), nn.GELU())
            self.head = nn.ConvTranspose2d(16, 3, 4, stride=4)

        def forward(self, x):
            return self.head(self.up(self.s2(self.down(self.s1(self.stem(x))))))

    return ConvNeXtAE()


def se_ae():
    """Strided-conv (k4 s2) / transposed-conv AE with a squeeze-and-excitation gate after
    each down step: ``f * sigmoid(conv1x1(relu(conv1x1(gap(f)))))``, the gate N×C×1×1
    broadcast over H×W."""
    torch, nn, F = _torch()

    class SE(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 2, 1), nn.ReLU(),
                                      nn.Conv2d(c // 2, c, 1), nn.Sigmoid())

        def forward(self, f):
            return f * self.gate(f)

    class SEAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.down1, self.se1 = nn.Conv2d(1, 4, 4, stride=2, padding=1), SE(4)
            self.down2, self.se2 = nn.Conv2d(4, 8, 4, stride=2, padding=1), SE(8)
            self.up2 = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
            self.up1 = nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1)

        def forward(self, x):
            h = self.se1(F.relu(self.down1(x)))
            h = self.se2(F.relu(self.down2(h)))
            return self.up1(F.relu(self.up2(h)))

    return SEAE()


def broadcast_ae():
    """Strided-conv AE whose maps meet N×C×1×1 tensors in every elementwise op that
    broadcasts: a gate times the map (gate first), minus the gate, max with it; at the
    bottleneck a per-channel term divides the map, picks by Where (a broadcast
    condition) and is added first."""
    torch, nn, F = _torch()

    class BroadcastAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.down1, self.down2 = nn.Conv2d(1, 4, 4, 2, 1), nn.Conv2d(4, 8, 4, 2, 1)
            self.gate, self.bias = nn.Conv2d(4, 4, 1), nn.Conv2d(8, 8, 1)
            self.up2, self.up1 = nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.ConvTranspose2d(4, 1, 4, 2, 1)

        def forward(self, x):
            h = F.relu(self.down1(x))
            g = torch.sigmoid(self.gate(h.mean((2, 3), keepdim=True)))
            h = torch.maximum(g * h - g, g)
            h = F.relu(self.down2(h))
            c = self.bias(F.adaptive_avg_pool2d(h, 1))
            h = torch.where(c > 0, h / (1 + torch.sigmoid(c)), h * 0.5)
            return self.up1(F.relu(self.up2(c + h)))

    return BroadcastAE()


def qkv_attention_ae():
    """Max-pool AE with a self-attention block at the 8×8 bottleneck, written as in
    diffusion U-Nets: one 1×1 conv makes q, k, v, ``reshape(b, 3, c, h*w).unbind(1)``
    splits them, and ``q.transpose(1, 2) @ k`` multiplies two transposed views of it.
    The dynamo exporter writes unbind as a Slice + Squeeze per part (views (0, 3, 2) and
    (0, 2, 3) of one 4-D tensor: the pattern that crashed symcheck); TorchScript as Split."""
    torch, nn, F = _torch()

    class Attention(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.qkv, self.proj = nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

        def forward(self, x):
            b, c, h, w = x.shape
            q, k, v = self.qkv(x).reshape(b, 3, c, h * w).unbind(1)
            a = torch.softmax(q.transpose(1, 2) @ k / c ** 0.5, dim=-1)  # b, hw, hw
            o = (v @ a.transpose(1, 2)).reshape(b, c, h, w)
            return x + self.proj(o)

    class AttentionAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.attn = Attention(8)
            self.decoder = nn.Sequential(
                nn.Upsample(scale_factor=2), nn.Conv2d(8, 4, 3, padding=1), nn.ReLU(),
                nn.Upsample(scale_factor=2), nn.Conv2d(4, 1, 3, padding=1))

        def forward(self, x):
            return self.decoder(self.attn(self.encoder(x)))

    return AttentionAE()


def nearest_exact_unet():
    """A 2-level U-Net upsampling with ``mode="nearest-exact"``: ``nn.Upsample`` at the
    bottleneck, ``F.interpolate`` at level 1. The dynamo exporter writes each as
    Transpose (2, 3, 0, 1) → GatherND of a constant index → Transpose (2, 3, 0, 1)
    (TorchScript cannot export nearest-exact)."""
    torch, nn, F = _torch()

    class NearestExactUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
            self.enc2 = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
            self.mid = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
            self.up2 = nn.Upsample(scale_factor=2, mode="nearest-exact")
            self.dec2 = nn.Sequential(nn.Conv2d(16 + 8, 8, 3, padding=1), nn.ReLU())
            self.dec1 = nn.Sequential(nn.Conv2d(8 + 4, 4, 3, padding=1), nn.ReLU())
            self.head = nn.Conv2d(4, 1, 1)

        def forward(self, x):
            s1 = self.enc1(x)
            s2 = self.enc2(F.max_pool2d(s1, 2))
            b = self.mid(F.max_pool2d(s2, 2))
            y = self.dec2(torch.cat([self.up2(b), s2], 1))
            y = F.interpolate(y, scale_factor=2, mode="nearest-exact")
            return self.head(self.dec1(torch.cat([y, s1], 1)))

    return NearestExactUNet()


def adaptive_pool_ae():
    """An AE whose encoder ends in ``AdaptiveAvgPool2d(4)`` on a 50×50 map (50/4 is no
    integer: the dynamo exporter writes it as GatherND of the windows → Transpose →
    ReduceMean; TorchScript cannot export it), and two ×5 transposed convs back to 100."""
    torch, nn, F = _torch()

    class AdaptivePoolAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                                     nn.AdaptiveAvgPool2d(4))
            self.dec = nn.Sequential(nn.ConvTranspose2d(8, 8, 5, 5), nn.ReLU(),  # 4 -> 20
                                     nn.ConvTranspose2d(8, 4, 5, 5), nn.ReLU(),  # 20 -> 100
                                     nn.Conv2d(4, 1, 3, padding=1))

        def forward(self, x):
            return self.dec(self.enc(x))

    return AdaptivePoolAE()


# ---------------------------------------------------------------------------
# The corpus

@dataclass(frozen=True)
class Spec:
    build: Callable
    inputs: tuple  # shapes of the dummy inputs, in forward order
    input_names: tuple = ("input",)
    output_names: tuple = ("output",)
    dynamo: bool = False
    dynamic_axes: Optional[dict] = None
    kwargs: dict = field(default_factory=dict)


MODELS: dict[str, Spec] = {
    "unet": Spec(unet, ((1, 1, 256, 256),)),
    "unet_dynamo": Spec(unet, ((1, 1, 256, 256),), dynamo=True),
    "unet_original": Spec(unet, ((1, 1, 572, 572),), kwargs=dict(out_channels=2, pad=0, crop=True)),
    "unet_add": Spec(add_unet, ((1, 1, 64, 64),)),
    "unet_pp": Spec(unet_pp, ((1, 1, 64, 64),)),
    "attention_unet": Spec(attention_unet, ((1, 1, 64, 64),)),
    "attention_unet_dynamo": Spec(attention_unet, ((1, 1, 64, 64),), dynamo=True),
    "aspp": Spec(aspp_net, ((1, 3, 64, 64),), output_names=("logits",)),
    "strided_k3": Spec(strided, ((1, 1, 32, 32),), kwargs=dict(kernel=3)),
    "strided_k4": Spec(strided, ((1, 1, 32, 32),), kwargs=dict(kernel=4)),
    "conv1d": Spec(conv1d_ae, ((1, 1, 100),)),
    "conv3d": Spec(conv3d_ae, ((1, 1, 16, 32, 32),)),
    "pixel_shuffle": Spec(pixel_shuffle_ae, ((1, 1, 32, 32),)),
    "bilinear": Spec(bilinear_ae, ((1, 1, 32, 32),)),
    "bilinear_dynamo": Spec(bilinear_ae, ((1, 1, 32, 32),), dynamo=True),
    "resize_to_skip": Spec(resize_to_skip_unet, ((1, 1, 28, 28),)),
    "resize_to_skip_dynamo": Spec(resize_to_skip_unet, ((1, 1, 28, 28),), dynamo=True),
    # dynamic H, W keep the Shape(skip) -> sizes sub-graph (a static export folds it to constants)
    "resize_to_skip_dynamic": Spec(resize_to_skip_unet, ((1, 1, 28, 28),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "vae": Spec(vae, ((1, 1, 28, 28),), output_names=("recon", "mu", "logvar")),
    "conv_vae": Spec(conv_vae, ((1, 1, 32, 32), (1, 8, 4, 4)), input_names=("x", "eps"),
                     output_names=("recon", "mu", "logvar")),
    "vae_overcomplete": Spec(vae, ((1, 1, 16, 16),), output_names=("recon", "mu", "logvar"),
                             kwargs=dict(size=16, widths=(4, 8), latent=300)),
    "norm_act": Spec(norm_act_ae, ((1, 1, 32, 32),)),
    "norm_act_dynamo": Spec(norm_act_ae, ((1, 1, 32, 32),), dynamo=True),
    "classifier": Spec(classifier, ((1, 1, 28, 28),)),
    "circular": Spec(circular_ae, ((1, 1, 32, 32),)),
    "circular_dynamo": Spec(circular_ae, ((1, 1, 32, 32),), dynamo=True),
    "circular_dynamic": Spec(circular_ae, ((1, 1, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "separable": Spec(separable_ae, ((1, 3, 64, 64),)),
    "separable_dynamo": Spec(separable_ae, ((1, 3, 64, 64),), dynamo=True),
    "vq_vae": Spec(vq_vae, ((1, 3, 32, 32),)),
    "vq_vae_dynamo": Spec(vq_vae, ((1, 3, 32, 32),), dynamo=True),
    "vq_vae_dynamic": Spec(vq_vae, ((1, 3, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "patch_transformer": Spec(patch_transformer_ae, ((1, 3, 32, 32),)),
    "patch_transformer_dynamo": Spec(patch_transformer_ae, ((1, 3, 32, 32),), dynamo=True),
    "strided_upsample": Spec(strided_upsample_ae, ((1, 3, 32, 32),)),
    "strided_upsample_dynamo": Spec(strided_upsample_ae, ((1, 3, 32, 32),), dynamo=True),
    "naf_unet": Spec(naf_unet, ((1, 3, 32, 32),)),
    "naf_unet_dynamo": Spec(naf_unet, ((1, 3, 32, 32),), dynamo=True),
    "swin_unet": Spec(swin_unet, ((1, 3, 32, 32),)),
    "swin_unet_dynamo": Spec(swin_unet, ((1, 3, 32, 32),), dynamo=True),
    "pixel_shuffle_dynamic": Spec(pixel_shuffle_ae, ((1, 1, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "unet_dynamic": Spec(unet, ((1, 1, 64, 64),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "wide_decoder": Spec(plain_ae, ((1, 1, 32, 32),), kwargs=dict(enc_widths=(8, 8), dec_widths=(32,))),
    "kernel_mismatch": Spec(plain_ae, ((1, 1, 32, 32),),
                            kwargs=dict(enc_widths=(8, 16, 32), dec_widths=(16, 8), dec_kernel=5)),
    "extra_up": Spec(plain_ae, ((1, 1, 32, 32),), kwargs=dict(enc_widths=(8, 8), dec_widths=(8, 8))),
    "two_inputs": Spec(conditioned_ae, ((1, 4), (1, 1, 32, 32)), input_names=("cond", "image")),
    "widening_unet": Spec(widening_unet, ((1, 3, 64, 64),)),
    "crop": Spec(crop_ae, ((1, 1, 30, 30),)),
    "crop_dynamo": Spec(crop_ae, ((1, 1, 30, 30),), dynamo=True),
    # TorchScript writes F.pad's pads as ConstantOfShape -> Concat -> Reshape [-1, 2] ->
    # Slice (step -1) -> Transpose -> Reshape -> Cast; dynamo writes a constant
    "pad_unet": Spec(pad_unet, ((1, 1, 28, 28),)),
    "pad_unet_dynamo": Spec(pad_unet, ((1, 1, 28, 28),), dynamo=True),
    # dynamic H, W keep the pads computed from Shape(skip) - Shape(upsampled)
    "pad_unet_dynamic": Spec(pad_unet, ((1, 1, 28, 28),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "zero_pad": Spec(zero_pad_ae, ((1, 1, 32, 32),)),
    "reflect_pad": Spec(reflect_pad_ae, ((1, 1, 30, 30),)),
    "reflect_pad_dynamo": Spec(reflect_pad_ae, ((1, 1, 30, 30),), dynamo=True),
    "odd27": Spec(odd_ae, ((1, 1, 27, 27),)),
    "odd27_dynamo": Spec(odd_ae, ((1, 1, 27, 27),), dynamo=True),
    "groupnorm": Spec(groupnorm_ae, ((1, 1, 32, 32),)),
    "groupnorm_dynamo": Spec(groupnorm_ae, ((1, 1, 32, 32),), dynamo=True),
    "groupnorm_dynamic": Spec(groupnorm_ae, ((1, 1, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "attention": Spec(attention_ae, ((1, 3, 32, 32),)),
    "attention_dynamo": Spec(attention_ae, ((1, 3, 32, 32),), dynamo=True),
    "attention_dynamic": Spec(attention_ae, ((1, 3, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "attention_tokens": Spec(attention_ae, ((1, 3, 32, 32),), kwargs=dict(style="tokens")),
    "attention_tokens_dynamo": Spec(attention_ae, ((1, 3, 32, 32),), dynamo=True,
                                    kwargs=dict(style="tokens")),
    # TorchScript only: the dynamo export's MatMul of two transposed views of the
    # unbound q and k meets a separate crash in the layer pass
    "attention_qkv": Spec(attention_ae, ((1, 3, 32, 32),), kwargs=dict(style="qkv")),
    "convnext": Spec(convnext_ae, ((1, 3, 32, 32),)),
    "convnext_dynamo": Spec(convnext_ae, ((1, 3, 32, 32),), dynamo=True),
    "convnext_dynamic": Spec(convnext_ae, ((1, 3, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "se": Spec(se_ae, ((1, 1, 32, 32),)),
    "se_dynamo": Spec(se_ae, ((1, 1, 32, 32),), dynamo=True),
    "se_dynamic": Spec(se_ae, ((1, 1, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "broadcast": Spec(broadcast_ae, ((1, 1, 32, 32),)),
    "broadcast_dynamo": Spec(broadcast_ae, ((1, 1, 32, 32),), dynamo=True),
    "qkv_attention": Spec(qkv_attention_ae, ((1, 1, 32, 32),)),
    "qkv_attention_dynamo": Spec(qkv_attention_ae, ((1, 1, 32, 32),), dynamo=True),
    # dynamo only: TorchScript exports neither nearest-exact nor a non-integer adaptive pool
    "nearest_exact_dynamo": Spec(nearest_exact_unet, ((1, 1, 32, 32),), dynamo=True),
    "adaptive_pool_dynamo": Spec(adaptive_pool_ae, ((1, 1, 100, 100),), dynamo=True),
    "qkv_attention_dynamic": Spec(qkv_attention_ae, ((1, 1, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
}

KERAS_MODELS = ("keras_unet.onnx", "keras_conv1d.onnx", "keras_dense.onnx")


def export(name: str, folder: Path) -> Path:
    """Export corpus model ``name`` to ``folder/name.onnx`` and check it runs."""
    torch, nn, F = _torch()
    import numpy as np
    import onnxruntime as ort

    spec = MODELS[name]
    torch.manual_seed(SEED)
    model = spec.build(**spec.kwargs).eval()
    with torch.no_grad():  # non-zero biases, as in a trained model
        for m in model.modules():
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.uniform_(-0.1, 0.1)
    args = tuple(torch.rand(*shape) for shape in spec.inputs)
    path = Path(folder) / f"{name}.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        if spec.dynamo:
            torch.onnx.export(model, args, str(path), dynamo=True, external_data=False,
                              input_names=list(spec.input_names),
                              output_names=list(spec.output_names))
        else:
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=OPSET,
                              input_names=list(spec.input_names),
                              output_names=list(spec.output_names),
                              dynamic_axes=spec.dynamic_axes)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)}
    got = session.run(None, feeds)
    if name not in ("vae", "vae_overcomplete"):  # randn_like: not deterministic
        with torch.no_grad():
            want = model(*args)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.numpy(), atol=1e-4)
    return path


class Corpus:
    """Exports corpus models on first use; ``corpus["unet"]`` is a path."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.paths: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name in KERAS_MODELS:
            path = KERAS_DIR / name
            if not path.exists():
                pytest.skip(f"{path} is missing: run tests/data/keras/make_keras_corpus.py")
            return str(path)
        if name not in self.paths:
            self.paths[name] = str(export(name, self.folder))
        return self.paths[name]


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/corpus")
    out.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    for name in MODELS:
        t = time.perf_counter()
        p = export(name, out)
        print(f"{name:24s} {time.perf_counter() - t:6.2f} s  {p.stat().st_size:>9,d} B")
    print(f"total {time.perf_counter() - total:.1f} s")
