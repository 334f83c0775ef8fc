"""CIFAR-style VGG and ResNet: a 3x3 stem and no ImageNet max-pool, so 8x8 to 32x32 inputs work.

Blocks and layer configurations come from torchvision (`BasicBlock`, `Bottleneck`, the VGG `cfgs`);
what is ours is the CIFAR stem, the width multiplier (so a test or a laptop can build a tiny member
of each family) and the shared head with dropout before the classifier. The standard members match
the published CIFAR variants: ResNet-18 on CIFAR-10 has 11.2 M parameters, VGG-16-BN 14.7 M.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from torchvision.models.resnet import BasicBlock, Bottleneck

    Block = type[BasicBlock | Bottleneck]

# torchvision's names for them: its modules are imported when a model is built, not when the tasks register (every
# `harness` command does), since importing torchvision takes 1.5 s
RESNET_DEPTHS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("BasicBlock", (2, 2, 2, 2)),
    34: ("BasicBlock", (3, 4, 6, 3)),
    50: ("Bottleneck", (3, 4, 6, 3)),
}
VGG_DEPTHS: dict[int, str] = {11: "A", 13: "B", 16: "D", 19: "E"}  # torchvision's `cfgs` keys


def resnet_block(name: str) -> Block:
    """torchvision's ResNet block class of that name."""
    from torchvision.models import resnet as torchvision_resnet

    return getattr(torchvision_resnet, name)


def classifier(features: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Global average pool, dropout, linear: the head both families share."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(features, num_classes))


def resnet_layers(in_channels: int, num_classes: int, block: Block, blocks: Sequence[int], widths: Sequence[int],
                  dropout: float = 0.0) -> nn.Sequential:
    """ResNet (He et al., 2016): a 3x3 stem, then stages of `blocks[i]` blocks of `widths[i]` planes,
    each stage after the first halving the resolution."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                               nn.ReLU(inplace=True)]
    cin = widths[0]
    for stage, (count, planes) in enumerate(zip(blocks, widths)):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            cout = planes * block.expansion
            shortcut = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            layers.append(block(cin, planes, stride, shortcut))
            cin = cout
    return _initialised(nn.Sequential(*layers, classifier(cin, num_classes, dropout)))


def vgg_layers(in_channels: int, num_classes: int, cfg: Sequence[int | str], dropout: float = 0.0) -> nn.Sequential:
    """VGG with batch norm (Simonyan & Zisserman, 2015): 3x3 convolutions, "M" a 2x2 max-pool (rounding up)."""
    layers: list[nn.Module] = []
    cin = in_channels
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(2, ceil_mode=True))  # odd sizes (MNIST 28 -> 7 -> 4) still end at 1x1
        else:
            layers += [nn.Conv2d(cin, int(item), 3, padding=1), nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
            cin = int(item)
    return _initialised(nn.Sequential(*layers, classifier(cin, num_classes, dropout)))


def _initialised(model: nn.Sequential) -> nn.Sequential:
    """torchvision's initialisation: He-normal convolutions (fan-out), unit batch-norm scales."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def scaled(channels: int, width: float) -> int:
    """Channels times the width multiplier, at least one."""
    return max(1, round(channels * width))


def resnet(depth: int, in_channels: int, num_classes: int, width: float = 1.0, dropout: float = 0.0) -> nn.Sequential:
    """CIFAR ResNet-18/34/50; `width` scales the 64-128-256-512 planes of the stages."""
    block, blocks = RESNET_DEPTHS[depth]
    return resnet_layers(in_channels, num_classes, resnet_block(block), blocks, [scaled(c, width) for c in (64, 128, 256, 512)],
                         dropout)


def vgg(depth: int, in_channels: int, num_classes: int, width: float = 1.0, dropout: float = 0.0) -> nn.Sequential:
    """CIFAR VGG-11/13/16/19 with batch norm: torchvision's configurations, one linear layer on 512 features."""
    from torchvision.models.vgg import cfgs

    cfg = [item if item == "M" else scaled(int(item), width) for item in cfgs[VGG_DEPTHS[depth]]]
    return vgg_layers(in_channels, num_classes, cfg, dropout)


def compact_resnet(in_channels: int, num_classes: int, width: int = 16, depth: int = 1,
                   dropout: float = 0.0) -> nn.Sequential:
    """Three stages of `depth` basic blocks with `width`, 2x and 4x channels: for 8x8 images."""
    return resnet_layers(in_channels, num_classes, resnet_block("BasicBlock"), (depth,) * 3, (width, 2 * width, 4 * width), dropout)


def compact_vgg(in_channels: int, num_classes: int, width: int = 16, depth: int = 1,
                dropout: float = 0.0) -> nn.Sequential:
    """Three stages of `depth` convolutions with `width`, 2x and 4x channels, each ending in a max-pool."""
    cfg = [item for stage in range(3) for item in [width * 2**stage] * depth + ["M"]]
    return vgg_layers(in_channels, num_classes, cfg, dropout)


FAMILIES = {"resnet": resnet, "vgg": vgg}
DEPTHS = {"resnet": tuple(RESNET_DEPTHS), "vgg": tuple(VGG_DEPTHS)}
DEFAULT_DEPTH = {"resnet": 18, "vgg": 16}
COMPACT_FAMILIES = {"resnet": compact_resnet, "vgg": compact_vgg}
