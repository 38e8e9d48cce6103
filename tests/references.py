"""Reference numbers from outside the code under test, each with its source.

Nothing here is computed by cnnbench; the tests compare cnnbench against it.
"""

# The reference parameter counts are not here: each is kept once, with its source, in its model's spec
# (``reference_params`` and ``reference_source``, each variant's in ``variants``; src/cnnbench/core/families/),
# where `cnnbench list` and `cnnbench info` show them too. They are numbers from outside the code (torchvision's
# published num_params, keras.applications, hand arithmetic written out), never computed by cnnbench, and
# tests/test_registry.py::test_every_model_is_complete asks each for a source that names where it comes from.

# BatchNorm running statistics (mean + variance) = 2 x BN channels.
# Hand arithmetic for ResNet-50: keras.applications.ResNet50 non-trainable = 53,120; MobileNetV2:
# keras.applications.MobileNetV2 non-trainable = 34,112 (total 3,538,984 - trainable 3,504,872);
# MobileNetV3: keras.applications.MobileNetV3Large / Small(weights=None) non-trainable = 24,400 / 12,112
# (tests/test_keras_applications.py builds all three). EfficientNet-B0..B3: keras.applications.EfficientNetB0..B3
# (weights=None) non-trainable = 42,023 / 62,055 / 67,575 / 87,303, less its input Normalization layer's 7
# (mean and variance of 3 channels, and a count). EfficientNetV2-S: keras.applications.EfficientNetV2S(weights=None)
# non-trainable = 153,872, all BatchNorm statistics (its input Rescaling has no weights).
BN_STATISTICS = {"resnet50": 53_120, "lenet5": 0, "alexnet": 0, "vgg16": 0, "mobilenet_v2": 34_112,
                 "mobilenet_v3_large": 24_400, "mobilenet_v3_small": 12_112, "efficientnet_b0": 42_016,
                 "efficientnet_b1": 62_048, "efficientnet_b2": 67_568, "efficientnet_b3": 87_296,
                 "efficientnet_v2_s": 153_872, "convnext_tiny": 0}  # LayerNorm keeps no running statistics
# keras.applications' non-trainable weights that are not BatchNorm statistics (its input Normalization's)
KERAS_APPLICATIONS_EXTRA_FROZEN = {"EfficientNetB0": 7, "EfficientNetB1": 7, "EfficientNetB2": 7, "EfficientNetB3": 7}

# Smallest valid square input. torchvision documents "at least 75" for Inception v3;
# VGG's five 2x2/2 max pools need 32 (hand arithmetic: 32 / 2**5 = 1);
# LeNet-5: 28 -> pool 14 -> conv 10 -> pool 5 needs n/2 - 4 >= 2, so n >= 12.
# MobileNetV2 and V3: torchvision documents min_size (1, 1): their stride-2 convs pad k // 2 on each side,
# and floor((1 + 2p - k) / 2) + 1 = 1 for k = 2p + 1, so a 1 px map stays 1 px (keras.applications asks
# for 32).
# RegNet: torchvision's _COMMON_META min_size (1, 1) (torchvision/models/regnet.py): its strided 3x3 convs pad 1
# and its strided 1x1 projections pad 0, floor((1 - 1) / 2) + 1 = 1.
# ConvNeXt: torchvision documents min_size (32, 32): the 4x4/4 stem and three 2x2/2 downsamplings, 4 x 2 x 2 x 2.
MIN_INPUT = {"inception_v3": 75, "vgg16": 32, "vgg11_bn": 32, "lenet5": 12, "mobilenet_v2": 1, "mobilenet_v3_small": 1,
             "regnet_y_400mf": 1, "convnext_tiny": 32}

# torchvision's published cost per model, the "_ops" field (GFLOPS, which torchvision counts as
# conv + linear multiply-adds, at the default input, batch 1) of each IMAGENET1K_V1 weights entry:
# torchvision/models/resnet.py @ 8c118f16, alexnet.py and googlenet.py @ 96c85bed, densenet.py @ 1ec2509e,
# vgg.py and inception.py @ 683baf8e, mobilenetv2.py (MobileNet_V2_Weights.IMAGENET1K_V1, "_ops": 0.301),
# mobilenetv3.py (MobileNet_V3_Large_Weights 0.217, MobileNet_V3_Small_Weights 0.057), regnet.py
# (RegNet_Y_400MF_Weights 0.402, RegNet_Y_1_6GF_Weights 1.612; an older regnet.py, @ 07a929e8, rounded
# them to 0.4 and 1.6), efficientnet.py (EfficientNet_B0..B3_Weights.IMAGENET1K_V1: 0.386, 0.687, 1.088,
# 1.827; EfficientNet_V2_S_Weights.IMAGENET1K_V1: 8.366, which the docs' table rounds to 8.37 and an older
# efficientnet.py, @ 07a929e8, to 8.4), convnext.py (ConvNeXt_Tiny_Weights.IMAGENET1K_V1: 4.456), mnasnet.py
# @ 8c118f16 (MNASNet0_5_Weights 0.104, MNASNet1_0_Weights 0.314; the docs' table rounds them to 0.1 and 0.31)
# (pytorch/vision).
# Given to three decimals, as published. torchvision counts each at its weights' crop size: the paper's
# resolution for EfficientNet-B0, B1 and B3 (224, 240, 300), 288 for B2 (whose paper and default input here
# are 260 px: 0.994 GMACs), 384 for EfficientNetV2-S (its default input here).
# (model, options, GMACs)
TORCHVISION_GMACS = [
    ("alexnet", {}, 0.714),
    ("vgg11", {}, 7.609), ("vgg13", {}, 11.308), ("vgg16", {}, 15.47), ("vgg19", {}, 19.632),
    ("vgg11_bn", {}, 7.609), ("vgg13_bn", {}, 11.308), ("vgg16_bn", {}, 15.47), ("vgg19_bn", {}, 19.632),
    ("googlenet", {"branch3_kernel": 3}, 1.498),  # torchvision's GoogLeNet has 3x3 "5x5" branches
    ("inception_v3", {}, 5.713),
    ("resnet18", {}, 1.814), ("resnet34", {}, 3.664), ("resnet50", {}, 4.089), ("resnet101", {}, 7.801),
    ("resnet152", {}, 11.514),
    ("densenet121", {}, 2.834), ("densenet169", {}, 3.36), ("densenet201", {}, 4.291),
    ("mobilenet_v2", {}, 0.301), ("mobilenet_v3_large", {}, 0.217), ("mobilenet_v3_small", {}, 0.057),
    ("regnet_y_400mf", {}, 0.402), ("regnet_y_1_6gf", {}, 1.612),
    ("efficientnet_b0", {}, 0.386), ("efficientnet_b1", {}, 0.687), ("efficientnet_b2", {"input_size": 288}, 1.088),
    ("efficientnet_b3", {}, 1.827), ("efficientnet_v2_s", {}, 8.366), ("convnext_tiny", {}, 4.456),
    ("mnasnet0_5", {}, 0.104), ("mnasnet1_0", {}, 0.314),
]

# RegNet-Y's stages (width, depth, group width), as published outside the code that generates them from
# torchvision's init params: keras.applications' MODEL_CONFIGS "y004" and "y016" (keras-team/keras,
# keras/applications/regnet.py @ 8768d830, Keras 2; Keras 3 dropped RegNet).
REGNET_STAGES = {
    "regnet_y_400mf": ((48, 1, 8), (104, 3, 8), (208, 6, 8), (440, 6, 8)),
    "regnet_y_1_6gf": ((48, 2, 24), (120, 6, 24), (336, 17, 24), (888, 2, 24)),
}
