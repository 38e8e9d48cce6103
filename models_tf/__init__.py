"""Keras 3 (TensorFlow) implementations of the cnnbench zoo; builders read ``cnnbench.core.specs``.

Every builder takes ``num_classes``, ``input_size`` and the spec's options, and
returns a ``keras.Model`` taking NHWC float32 input and returning logits.
"""
from cnnbench.models_tf.alexnet import alexnet
from cnnbench.models_tf.densenet import densenet121, densenet169, densenet201
from cnnbench.models_tf.googlenet import googlenet
from cnnbench.models_tf.inception import inception_v3
from cnnbench.models_tf.lenet import lenet5
from cnnbench.models_tf.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from cnnbench.models_tf.vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = [
    "alexnet", "densenet121", "densenet169", "densenet201", "googlenet", "inception_v3", "lenet5",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
]
