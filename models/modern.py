"""Reference nets with today's nonlinearities (issue 20): a SiLU CNN, a LeakyReLU CNN with max pooling, a
ConvNeXt-style CNN (depthwise convolutions, LayerNorm, GELU) and a small vision transformer (patch embedding,
pre-LayerNorm blocks, softmax attention, GELU MLP), all on MNIST-5k.

:data:`MODERN` maps each name to its :class:`~models.train_mnist.Spec`; ``models/train_modern.py`` trains them
and writes ``models/modern/<name>.onnx`` and ``models/modern/modern.json``. They are exported at opset 17, so that
LayerNorm is one ``LayerNormalization`` node and GELU the ``Div, Erf, Add, Mul, Mul`` that the TorchScript
exporter writes for it below opset 20.
"""

from pathlib import Path

import torch
from torch import nn

from models.train_mnist import Spec
from models.zoo import _conv_stack

MODERN_DIR = Path(__file__).resolve().parent / "modern"
OPSET = 17
LEAKY_SLOPE = 0.1


def small_cnn(act, pool):
    """conv3x3-BN-act 16, 16 | 2x2 ``pool`` | 32, 32 | ``pool`` | 32, then fc(32·7·7→32)-act-fc(32→10);
    ``act`` a module class."""
    layers, c = _conv_stack((16, 16, None, 32, 32, None, 32),
                            lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                                                 nn.BatchNorm2d(c_out), act()], pool)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 7 * 7, 32), act(), nn.Linear(32, 10))


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, H, W), as ConvNeXt writes it: permute, normalize the last axis,
    permute back."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """x + pw2(GELU(pw1(LN(dwconv7x7(x))))), the pointwise layers Linear on channels-last (ConvNeXt, Liu et
    al. 2022, without layer scale and stochastic depth)."""

    def __init__(self, dim, expansion=4):
        super().__init__()
        self.depthwise = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1, self.act, self.pw2 = nn.Linear(dim, expansion * dim), nn.GELU(), nn.Linear(expansion * dim, dim)

    def forward(self, x):
        y = self.norm(self.depthwise(x).permute(0, 2, 3, 1))
        return x + self.pw2(self.act(self.pw1(y))).permute(0, 3, 1, 2)


class ConvNeXtMini(nn.Sequential):
    """Stem conv2x2/2 (1→32)-LN (14x14), 2 blocks at 32, downsampling LN-conv2x2/2 (→64, 7x7), 1 block at 64,
    global average pool, LN, fc(64→10)."""

    def __init__(self):
        super().__init__(
            nn.Conv2d(1, 32, 2, 2), ChannelNorm(32), ConvNeXtBlock(32), ConvNeXtBlock(32),
            ChannelNorm(32), nn.Conv2d(32, 64, 2, 2), ConvNeXtBlock(64),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(64), nn.Linear(64, 10))


class Attention(nn.Module):
    """Multi-head softmax self-attention with one qkv projection and a constant scale 1/sqrt(d)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        n, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attention = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        return self.out((attention @ v).transpose(1, 2).reshape(n, tokens, dim))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(LN(x)), then x + MLP(LN(x)) with a GELU MLP."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch embedding conv4x4/4 (49 tokens of 48) plus a learned position embedding, 3 pre-LN blocks (2 heads,
    MLP 96), final LN, mean over tokens, fc(48→10)."""

    def __init__(self, dim=48, depth=3, heads=2, hidden=96, patch=4):
        super().__init__()
        tokens = (28 // patch) ** 2
        self.patches = nn.Conv2d(1, dim, patch, patch)
        self.position = nn.Parameter(torch.zeros(1, tokens, dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, hidden) for _ in range(depth)))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patches(x).flatten(2).transpose(1, 2) + self.position
        return self.head(self.norm(self.blocks(x)).mean(dim=1))


def _mnist(build, epochs, lr=2e-3):
    return Spec("mnist5k", build, epochs, lr, 64, 2)


#: name -> training recipe (Adam, cosine schedule, batch 64, random shifts of 2 pixels, seed 0)
MODERN = {
    "silu_cnn": _mnist(lambda: small_cnn(nn.SiLU, nn.AvgPool2d), 15),
    "leaky_cnn_max": _mnist(lambda: small_cnn(lambda: nn.LeakyReLU(LEAKY_SLOPE), nn.MaxPool2d), 15),
    "convnext_mini": _mnist(ConvNeXtMini, 15),
    "vit_tiny": _mnist(TinyViT, 80),
}
DESCRIPTIONS = {
    "silu_cnn": "SiLU CNN: 5 conv3x3-BN-SiLU, average pooling, fc-SiLU head",
    "leaky_cnn_max": f"LeakyReLU CNN (slope {LEAKY_SLOPE}): 5 conv3x3-BN-LeakyReLU, max pooling, fc-LeakyReLU head",
    "convnext_mini": "ConvNeXt-style: depthwise 7x7 convs, LayerNorm, Erf-GELU MLPs, residual Adds",
    "vit_tiny": "vision transformer: 4x4 patches, pre-LayerNorm, 2-head softmax attention, Erf-GELU MLP",
}


def modern_path(name):
    """models/modern/<name>.onnx."""
    return MODERN_DIR / f"{name}.onnx"
