"""PyTorch implementations of the cnnbench zoo; builders read ``cnnbench.core.specs``.

Every builder takes ``num_classes``, ``input_size`` and the spec's options, and
returns an ``nn.Module`` taking NCHW float32 input and returning logits.
"""
from cnnbench.models_torch.alexnet import alexnet
from cnnbench.models_torch.densenet import densenet121, densenet169, densenet201
from cnnbench.models_torch.googlenet import googlenet
from cnnbench.models_torch.inception import inception_v3
from cnnbench.models_torch.lenet import lenet5
from cnnbench.models_torch.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from cnnbench.models_torch.vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = [
    "alexnet", "densenet121", "densenet169", "densenet201", "googlenet", "inception_v3", "lenet5",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
]
