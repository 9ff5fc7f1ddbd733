"""Tiny seeded exports of today's architectures, for the verdict that inspect and convert give on them: a vision
transformer (pre-LayerNorm, softmax attention scaled by 1/sqrt(d) computed from the shape, Erf-GELU or ReLU MLP),
a ConvNeXt block, a MobileNetV3 block (HardSwish, squeeze-excitation with HardSigmoid), an LSTM text classifier
(integer token input), a ReLU MLP with one LayerNorm, a ReLU CNN with SiLU and Tanh layers, and a U-Net-like
segmenter ((N, C, H, W) output)."""

import io
import warnings

import onnx
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.qkv, self.out = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        n, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        scale = torch.sqrt(torch._shape_as_tensor(q)[-1].float())
        attention = torch.softmax(q @ k.transpose(-2, -1) / scale, dim=-1)
        return self.out((attention @ v).transpose(1, 2).reshape(n, tokens, dim))


class TinyViT(nn.Module):
    input_shape = (3, 16, 16)

    def __init__(self, dim=16, heads=2, act=nn.GELU):
        super().__init__()
        self.patches = nn.Conv2d(3, dim, 4, 4)
        self.norm1, self.attention = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), act(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patches(x).flatten(2).transpose(1, 2)
        x = x + self.attention(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(dim=1))


class ConvNeXtBlock(nn.Module):
    input_shape = (3, 16, 16)

    def __init__(self, dim=8):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 4, 4)
        self.depthwise = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.mlp(self.norm(self.depthwise(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return self.head((x + y).mean(dim=(2, 3)))


class MobileNetV3Block(nn.Module):
    input_shape = (3, 16, 16)

    def __init__(self, dim=8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, 2, 1), nn.Hardswish())
        self.excite = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, 4, 1), nn.ReLU(), nn.Conv2d(4, dim, 1),
                                    nn.Hardsigmoid())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(dim, 10))

    def forward(self, x):
        x = self.stem(x)
        return self.head(x * self.excite(x))


class LstmText(nn.Module):
    input_shape = (8,)
    input_dtype = torch.int64

    def __init__(self):
        super().__init__()
        self.embed, self.lstm, self.head = nn.Embedding(50, 16), nn.LSTM(16, 16, batch_first=True), nn.Linear(16, 4)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.head(torch.relu(out[:, -1]))


class ReluLayerNormMlp(nn.Module):
    input_shape = (12,)

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.LayerNorm(16), nn.Linear(16, 16), nn.ReLU(),
                                 nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)


class ReluSiluCnn(nn.Module):
    """A ReLU stem, then a SiLU layer (x * sigmoid(x) as exporters write it) and a Tanh before the classifier."""

    input_shape = (3, 8, 8)

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.SiLU(),
                                 nn.AvgPool2d(2), nn.Flatten(), nn.Linear(128, 16), nn.Tanh(), nn.Linear(16, 5))

    def forward(self, x):
        return self.net(x)


class TinyUNet(nn.Module):
    input_shape = (1, 8, 8)

    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.up = nn.Sequential(nn.ConvTranspose2d(4, 4, 2, 2), nn.ReLU())
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        skip = torch.relu(x.repeat(1, 4, 1, 1))
        return self.out(torch.cat([self.up(self.down(x)), skip], dim=1))


MODELS = {"vit": TinyViT, "vit_relu": lambda: TinyViT(act=nn.ReLU), "convnext": ConvNeXtBlock,
          "mobilenetv3": MobileNetV3Block, "lstm": LstmText, "relu_layernorm": ReluLayerNormMlp,
          "relu_silu_cnn": ReluSiluCnn, "unet": TinyUNet}
INPUT_SHAPES = {"vit_relu": TinyViT.input_shape}


def example(name, batch=2):
    shape = INPUT_SHAPES.get(name) or MODELS[name].input_shape
    generator = torch.Generator().manual_seed(0)
    if getattr(MODELS[name], "input_dtype", torch.float32) == torch.int64:
        return torch.randint(0, 50, (batch, *shape), generator=generator)
    return torch.rand((batch, *shape), generator=generator)


def export(name, opset=17):
    """The seeded model exported by TorchScript with a dynamic batch, input 'input', output 'output'."""
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example(name),), buffer, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return onnx.load_from_string(buffer.getvalue())
