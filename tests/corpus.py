"""The architecture corpus: small PyTorch encoder-decoders exported to ONNX on demand.

Each entry of :data:`MODELS` builds one model at a fixed seed, with a dummy input
and export options; :class:`Corpus` exports it the first time a test asks for
it (TorchScript ``dynamo=False`` by default, ``dynamo=True`` for the ``*_dynamo``
entries, weights inlined) and caches the path for the session. Channels are kept
small so the whole corpus exports in well under a minute on 2 cores.

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


def attention_ae():
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
    "vae_overcomplete": Spec(vae, ((1, 1, 16, 16),), output_names=("recon", "mu", "logvar"),
                             kwargs=dict(size=16, widths=(4, 8), latent=300)),
    "norm_act": Spec(norm_act_ae, ((1, 1, 32, 32),)),
    "norm_act_dynamo": Spec(norm_act_ae, ((1, 1, 32, 32),), dynamo=True),
    "classifier": Spec(classifier, ((1, 1, 28, 28),)),
    "unet_dynamic": Spec(unet, ((1, 1, 64, 64),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "wide_decoder": Spec(plain_ae, ((1, 1, 32, 32),), kwargs=dict(enc_widths=(8, 8), dec_widths=(32,))),
    "kernel_mismatch": Spec(plain_ae, ((1, 1, 32, 32),),
                            kwargs=dict(enc_widths=(8, 16, 32), dec_widths=(16, 8), dec_kernel=5)),
    "extra_up": Spec(plain_ae, ((1, 1, 32, 32),), kwargs=dict(enc_widths=(8, 8), dec_widths=(8, 8))),
    "two_inputs": Spec(conditioned_ae, ((1, 4), (1, 1, 32, 32)), input_names=("cond", "image")),
    "se": Spec(se_ae, ((1, 1, 32, 32),)),
    "se_dynamo": Spec(se_ae, ((1, 1, 32, 32),), dynamo=True),
    "se_dynamic": Spec(se_ae, ((1, 1, 32, 32),), dynamic_axes={
        "input": {0: "batch", 2: "height", 3: "width"},
        "output": {0: "batch", 2: "out_height", 3: "out_width"}}),
    "broadcast": Spec(broadcast_ae, ((1, 1, 32, 32),)),
    "broadcast_dynamo": Spec(broadcast_ae, ((1, 1, 32, 32),), dynamo=True),
    "attention": Spec(attention_ae, ((1, 1, 32, 32),)),
    "attention_dynamo": Spec(attention_ae, ((1, 1, 32, 32),), dynamo=True),
    "attention_dynamic": Spec(attention_ae, ((1, 1, 32, 32),), dynamic_axes={
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
