"""CIFAR-style image classifiers: a 3x3 stem and no ImageNet max-pool, so 8x8 to 32x32 inputs work.

Width (channels of the first stage) and depth (blocks per stage) are hyperparameters, which is
what lets a test or a laptop build a tiny member of each family.
"""

from __future__ import annotations

from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def classifier(features: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Global average pool, dropout, linear: the head both families share."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(features, num_classes))


def resnet(in_channels: int, num_classes: int, width: int = 16, depth: int = 1, stages: int = 3,
           dropout: float = 0.0) -> nn.Sequential:
    """ResNet (He et al., 2016) with `stages` stages of `depth` basic blocks, widths doubling per stage."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                               nn.ReLU(inplace=True)]
    cin = width
    for stage in range(stages):
        cout = width * 2**stage
        for block in range(depth):
            layers.append(BasicBlock(cin, cout, stride=2 if stage > 0 and block == 0 else 1))
            cin = cout
    return nn.Sequential(*layers, classifier(cin, num_classes, dropout))


def vgg(in_channels: int, num_classes: int, width: int = 16, depth: int = 1, stages: int = 3,
        dropout: float = 0.0) -> nn.Sequential:
    """VGG with batch norm (Simonyan & Zisserman, 2015): `depth` 3x3 convs per stage, then a 2x2 max-pool."""
    layers: list[nn.Module] = []
    cin = in_channels
    for stage in range(stages):
        cout = width * 2**stage
        for _ in range(depth):
            layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, classifier(cin, num_classes, dropout))


FAMILIES = {"resnet": resnet, "vgg": vgg}
