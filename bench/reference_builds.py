"""Plain reference builds of ResNet-50 and VGG-16 for the README's performance note.

PyTorch: torchvision cannot be installed beside the CPU build of torch here (its
registry build needs CUDA), so these are minimal nn.Sequential builds with
torchvision's layer structure, written from the papers' tables without any of
cnnbench's helpers, names or spec table. TensorFlow: keras.applications itself.
The point is to show that cnnbench's builders add no cost of their own.
"""
from __future__ import annotations


def torch_vgg16():
    """torchvision's vgg16 layout: features (13 convs, 5 pools), avgpool 7x7, classifier."""
    from torch import nn

    layers, c = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(
        nn.Sequential(*layers), nn.AdaptiveAvgPool2d(7), nn.Flatten(1),
        nn.Linear(512 * 49, 4096), nn.ReLU(True), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
        nn.Linear(4096, 1000),
    )


def torch_resnet50():
    """torchvision's resnet50 layout (v1.5, stride in the 3x3), without cnnbench's module names."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            out = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
                nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out),
            )
            self.down = (nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                         if stride != 1 or cin != out else nn.Identity())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.body(x) + self.down(x))

    blocks, c = [], 64
    for i, (width, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for j in range(n):
            blocks.append(Bottleneck(c, width, 2 if (i > 0 and j == 0) else 1))
            c = width * 4
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(3, 2, 1),
        *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(2048, 1000),
    )


def keras_vgg16():
    import keras

    return keras.applications.VGG16(weights=None)


def keras_resnet50():
    """keras.applications.ResNet50 is the v1 layout: cnnbench's resnet50 with the v1 options."""
    import keras

    return keras.applications.ResNet50(weights=None)


# (our model name, our options, reference builder) per framework
REFERENCES = {
    ("vgg16", "torch"): ("vgg16", {}, torch_vgg16),
    ("resnet50", "torch"): ("resnet50", {}, torch_resnet50),
    ("vgg16", "tf"): ("vgg16", {}, keras_vgg16),
    ("resnet50", "tf"): ("resnet50", {"stride_in_1x1": True, "conv_bias": True, "bn_eps": 1.001e-5}, keras_resnet50),
}
