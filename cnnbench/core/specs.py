"""The one spec table: every architecture's numbers, in one framework-free place.

``models_torch/``, ``models_tf/`` and the analytic counter in
``cnnbench.core.analytic`` all read these entries and repeat no number. A spec names
its family (the module that builds it in each framework), the paper, the
default input, the architecture's numbers (``config``), which of those numbers
a user may override (``options``), and reference parameter counts with their
source.

Conventions fixed here, followed exactly by both frameworks:

* Padding is explicit and symmetric, as in PyTorch (``padding=p`` adds ``p``
  pixels on every side). Keras builders reproduce it with ``ZeroPadding2D`` +
  ``"valid"``, never with Keras' asymmetric ``"same"`` for strided layers.
* Max pooling with ``ceil_mode`` (GoogLeNet) pads only the bottom/right, as
  PyTorch does; those pools always follow a ReLU, so zero padding is exact.
* Average pooling with padding counts the padded zeros
  (``count_include_pad=True``, PyTorch's default and torchvision's Inception v3)
  unless ``avgpool_count_include_pad`` says otherwise.
* BatchNorm ``momentum`` uses PyTorch's convention (weight of the new batch
  statistic, 0.1); Keras builders pass ``1 - momentum``.
* Models return logits (no softmax), as torchvision does; the seeds' Keras code
  ends in softmax, which has no parameters and is left to the loss.
* Weights are float32.
"""
from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from cnnbench.core.errors import InputTooSmallError, InvalidValueError, UnknownModelError
from cnnbench.core.options import BN_EPS, DROPOUT, Flag, OneOf, Option
from cnnbench.core.validate import positive_int


@dataclass(frozen=True)
class Variant:
    """A reference parameter count for a non-default choice of options."""

    options: Mapping[str, Any]
    params: int
    source: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    paper: str
    input_size: int
    in_channels: int
    config: Mapping[str, Any]
    reference_params: int
    reference_source: str
    options: Mapping[str, Option] = field(default_factory=lambda: MappingProxyType({}))  # settable config entries
    variants: tuple[Variant, ...] = ()
    num_classes: int = 1000

    def check_options(self, **options: Any) -> dict[str, Any]:
        """The options in canonical form (``"MAX"`` -> ``"max"``); an unknown name or a value of the
        wrong type or range raises ``InvalidValueError`` naming the model, the option and the rule."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise InvalidValueError(
                f"{self.name}: unknown option(s) {', '.join(unknown)}; "
                f"options this model accepts: {', '.join(self.options) or 'none'}"
            )
        return {key: self.options[key].check(f"{self.name}: option {key}", value) for key, value in options.items()}

    def parse_option(self, key: str, text: str) -> Any:
        """Option ``key`` written as command-line ``text`` (``"true"``, ``"3"``, ``"MAX"``), checked."""
        if key not in self.options:
            self.check_options(**{key: text})  # the unknown-option error
        return self.options[key].parse(f"{self.name}: option {key}", text)

    def resolve(self, **options: Any) -> dict[str, Any]:
        """The config with the user's options applied, each checked (see ``check_options``)."""
        cfg = dict(self.config)
        cfg.update(self.check_options(**options))
        return cfg

    def fingerprint(self, **overrides: Any) -> str:
        """A short stable hash of the resolved config (for caches keyed by spec)."""
        blob = json.dumps(
            {"name": self.name, "family": self.family, "config": self.resolve(**overrides)},
            sort_keys=True,
            default=lambda o: dict(o) if isinstance(o, Mapping) else repr(o),
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_options(spec: ModelSpec, pairs: Iterable[str]) -> dict[str, Any]:
    """Command-line options (``["aux_logits=true", "pool=MAX"]``) -> typed, checked keyword options."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise InvalidValueError(f"{spec.name}: an option is written KEY=VALUE, got {pair!r}")
        out[key.strip()] = spec.parse_option(key.strip(), text)
    return out


def _frozen(**kw: Any) -> Mapping[str, Any]:
    return MappingProxyType(kw)


# --------------------------------------------------------------------------- LeNet-5
LENET5 = ModelSpec(
    name="lenet5",
    family="lenet",
    paper="LeCun et al., Gradient-Based Learning Applied to Document Recognition, 1998",
    input_size=28,
    in_channels=1,
    num_classes=10,
    config=_frozen(
        # (filters, kernel, padding): C1 is padded to keep 28x28 as in the seeds.
        convs=((6, 5, 2), (16, 5, 0)),
        pool_size=2,
        pool="max",  # seed 000 uses max, seed 001 average
        activation="relu",
        fc=(120, 84),
    ),
    options=_frozen(activation=OneOf("relu", "tanh", "sigmoid"), pool=OneOf("max", "avg")),
    reference_params=61_706,
    reference_source="seed 000_637ea46590fc4101.txt, Keras summary 'Total params: 61,706'",
)

# --------------------------------------------------------------------------- AlexNet
ALEXNET = ModelSpec(
    name="alexnet",
    family="alexnet",
    paper="Krizhevsky et al., ImageNet Classification with Deep CNNs, 2012 (single tower, as torchvision)",
    input_size=224,
    in_channels=3,
    config=_frozen(
        # (filters, kernel, stride, padding, max-pool after)
        stages=(
            (64, 11, 4, 2, True),
            (192, 5, 1, 2, True),
            (384, 3, 1, 1, False),
            (256, 3, 1, 1, False),
            (256, 3, 1, 1, True),
        ),
        pool_size=3,
        pool_stride=2,
        head_pool=6,  # adaptive average pool to 6x6 before the classifier
        fc=(4096, 4096),
        dropout=0.5,
    ),
    options=_frozen(dropout=DROPOUT),
    reference_params=61_100_840,
    reference_source="torchvision.models.alexnet, published num_params 61,100,840",
)

# --------------------------------------------------------------------------- VGG
_VGG_STAGES = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def _vgg(depth: int, batch_norm: bool, params: int, source: str) -> ModelSpec:
    return ModelSpec(
        name=f"vgg{depth}" + ("_bn" if batch_norm else ""),
        family="vgg",
        paper="Simonyan & Zisserman, Very Deep Convolutional Networks, 2014",
        input_size=224,
        in_channels=3,
        config=_frozen(
            stages=_VGG_STAGES[depth],
            kernel=3,
            padding=1,
            pool_size=2,
            batch_norm=batch_norm,
            bn_eps=1e-5,
            bn_momentum=0.1,
            head_pool=7,
            fc=(4096, 4096),
            dropout=0.5,
        ),
        options=_frozen(dropout=DROPOUT),
        reference_params=params,
        reference_source=source,
    )


_TV = "torchvision.models.{} published num_params"
VGG11 = _vgg(11, False, 132_863_336, _TV.format("vgg11"))
VGG13 = _vgg(13, False, 133_047_848, _TV.format("vgg13"))
VGG16 = _vgg(16, False, 138_357_544, _TV.format("vgg16") + "; seed 000 Keras summary")
VGG19 = _vgg(19, False, 143_667_240, _TV.format("vgg19"))
VGG11_BN = _vgg(11, True, 132_868_840, _TV.format("vgg11_bn"))
VGG13_BN = _vgg(13, True, 133_053_736, _TV.format("vgg13_bn"))
VGG16_BN = _vgg(16, True, 138_365_992, _TV.format("vgg16_bn"))
VGG19_BN = _vgg(19, True, 143_678_248, _TV.format("vgg19_bn"))

# --------------------------------------------------------------------------- GoogLeNet
GOOGLENET = ModelSpec(
    name="googlenet",
    family="googlenet",
    paper="Szegedy et al., Going Deeper with Convolutions, 2014 (Inception v1), with BatchNorm",
    input_size=224,
    in_channels=3,
    config=_frozen(
        # stem: conv 7x7/2 (64), maxpool 3/2, conv 1x1 (64), conv 3x3 (192), maxpool 3/2
        stem=dict(conv1=(64, 7, 2, 3), conv2=(64, 1, 1, 0), conv3=(192, 3, 1, 1)),
        pool_size=3,
        pool_stride=2,
        # The paper's Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
        modules=(
            ("inception3a", (64, 96, 128, 16, 32, 32)),
            ("inception3b", (128, 128, 192, 32, 96, 64)),
            ("inception4a", (192, 96, 208, 16, 48, 64)),
            ("inception4b", (160, 112, 224, 24, 64, 64)),
            ("inception4c", (128, 128, 256, 24, 64, 64)),
            ("inception4d", (112, 144, 288, 32, 64, 64)),
            ("inception4e", (256, 160, 320, 32, 128, 128)),
            ("inception5a", (256, 160, 320, 32, 128, 128)),
            ("inception5b", (384, 192, 384, 48, 128, 128)),
        ),
        # max pools (name, kernel) between the stages; the last is 2x2/2 in torchvision
        pools_after=_frozen(inception3b=("pool3", 3), inception4e=("pool4", 2)),
        branch4_pool=(3, 1, 1),  # the max pool of each module's branch 4: kernel, stride, padding
        ceil_mode=True,  # every max pool rounds its output size up (torchvision)
        branch3_kernel=5,  # the paper; torchvision uses 3 (kept for its weights)
        bn_eps=1e-3,
        bn_momentum=0.1,
        dropout=0.2,
        aux_logits=False,
        # auxiliary heads after inception4a and inception4d (torchvision's layout)
        aux_after=("inception4a", "inception4d"),
        aux_pool=4,  # adaptive average pool to 4x4
        aux_proj=128,
        aux_fc=1024,
        aux_dropout=0.7,
        aux_weight=0.3,
    ),
    options=_frozen(aux_logits=Flag(), branch3_kernel=OneOf(3, 5), dropout=DROPOUT),
    reference_params=7_005_832,
    reference_source=(
        "paper's module table with BN, hand arithmetic: torchvision googlenet 6,624,904 "
        "with 3x3 in branch 3, plus the 5x5-vs-3x3 difference of its nine modules (380,928)"
    ),
    variants=(
        Variant({"aux_logits": True}, 13_385_816, "7,005,832 + torchvision's two aux heads (6,379,984)"),
        Variant({"branch3_kernel": 3}, 6_624_904, "torchvision.models.googlenet published num_params"),
        Variant(
            {"branch3_kernel": 3, "aux_logits": True},
            13_004_888,
            "torchvision.models.googlenet(aux_logits=True) parameter count",
        ),
    ),
)

# --------------------------------------------------------------------------- Inception v3
INCEPTION_V3 = ModelSpec(
    name="inception_v3",
    family="inception",
    paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision, 2015",
    input_size=299,
    in_channels=3,
    config=_frozen(
        # (name, filters, kernel, stride, padding) or (name, "maxpool")
        stem=(
            ("conv1a", 32, 3, 2, 0),
            ("conv2a", 32, 3, 1, 0),
            ("conv2b", 64, 3, 1, 1),
            ("pool1", "maxpool"),
            ("conv3b", 80, 1, 1, 0),
            ("conv4a", 192, 3, 1, 0),
            ("pool2", "maxpool"),
        ),
        pool_size=3,
        pool_stride=2,
        # (name, module type, widths); widths per type:
        # A: 1x1, (5x5 reduce, 5x5), (dbl reduce, dbl 3x3, dbl 3x3), pool proj
        # B: 3x3/2, (dbl reduce, dbl 3x3, dbl 3x3/2)
        # C: 1x1, c7, 7x7 out, pool proj  (c7 = channels inside the 1x7/7x1 towers)
        # D: (3x3 reduce, 3x3/2), (7x7x3 reduce, 1x7, 7x1, 3x3/2)
        # E: 1x1, (3x3 reduce, 1x3/3x1), (dbl reduce, dbl 3x3, 1x3/3x1), pool proj
        blocks=(
            ("mixed5b", "A", (64, (48, 64), (64, 96, 96), 32)),
            ("mixed5c", "A", (64, (48, 64), (64, 96, 96), 64)),
            ("mixed5d", "A", (64, (48, 64), (64, 96, 96), 64)),
            ("mixed6a", "B", (384, (64, 96, 96))),
            ("mixed6b", "C", (192, 128, 192, 192)),
            ("mixed6c", "C", (192, 160, 192, 192)),
            ("mixed6d", "C", (192, 160, 192, 192)),
            ("mixed6e", "C", (192, 192, 192, 192)),
            ("mixed7a", "D", ((192, 320), (192, 192, 192, 192))),
            ("mixed7b", "E", (320, (384, 384), (448, 384, 384), 192)),
            ("mixed7c", "E", (320, (384, 384), (448, 384, 384), 192)),
        ),
        factor_kernel=7,  # the 1xn / nx1 factorization in C and D modules
        branch_pool=(3, 1, 1),  # the average pool of the pool branch (A, C, E): kernel, stride, padding
        avgpool_count_include_pad=True,  # torchvision's F.avg_pool2d default
        bn_eps=1e-3,
        bn_momentum=0.1,
        dropout=0.5,
        aux_logits=False,
        aux_after="mixed6e",
        aux_pool=(5, 3),  # average pool 5x5 stride 3
        aux_widths=(128, 768),  # 1x1 projection, then a 5x5 conv
        aux_weight=0.4,
    ),
    options=_frozen(aux_logits=Flag(), avgpool_count_include_pad=Flag(), dropout=DROPOUT),
    reference_params=23_834_568,
    reference_source="torchvision.models.inception_v3(aux_logits=False) parameter count",
    variants=(
        Variant({"aux_logits": True}, 27_161_264, "torchvision.models.inception_v3 published num_params"),
    ),
)

# --------------------------------------------------------------------------- ResNet
def _resnet(depth: int, block: str, layers: tuple[int, ...], params: int, variants=()) -> ModelSpec:
    return ModelSpec(
        name=f"resnet{depth}",
        family="resnet",
        paper="He et al., Deep Residual Learning for Image Recognition, 2015 (v1.5: stride in the 3x3)",
        input_size=224,
        in_channels=3,
        config=_frozen(
            block=block,  # "basic" | "bottleneck"
            layers=layers,
            stem=(64, 7, 2, 3),  # filters, kernel, stride, padding
            stem_pool=(3, 2, 1),  # kernel, stride, padding
            widths=(64, 128, 256, 512),
            strides=(1, 2, 2, 2),  # of each stage's first block (and its downsample); the others stride 1
            expansion=4 if block == "bottleneck" else 1,
            stride_in_1x1=False,  # True = "v1": stride in the first 1x1 (seeds, keras.applications)
            conv_bias=False,  # True = convs carry a bias (seeds, keras.applications)
            bn_eps=1e-5,
            bn_momentum=0.1,
        ),
        options=_frozen(stride_in_1x1=Flag(), conv_bias=Flag(), bn_eps=BN_EPS),
        reference_params=params,
        reference_source=f"torchvision.models.resnet{depth} published num_params",
        variants=variants,
    )


RESNET18 = _resnet(18, "basic", (2, 2, 2, 2), 11_689_512)
RESNET34 = _resnet(34, "basic", (3, 4, 6, 3), 21_797_672)
RESNET50 = _resnet(
    50,
    "bottleneck",
    (3, 4, 6, 3),
    25_557_032,
    variants=(
        # keras.applications.ResNet50 counts 25,636,712 *including* 53,120 BN moving
        # statistics; trainable 25,583,592. Its BN epsilon is 1.001e-5.
        Variant(
            {"stride_in_1x1": True, "conv_bias": True, "bn_eps": 1.001e-5},
            25_583_592,
            "keras.applications.ResNet50 trainable params (total 25,636,712 incl. BN statistics)",
        ),
    ),
)
RESNET101 = _resnet(101, "bottleneck", (3, 4, 23, 3), 44_549_160)
RESNET152 = _resnet(152, "bottleneck", (3, 8, 36, 3), 60_192_808)

# --------------------------------------------------------------------------- DenseNet
def _densenet(depth: int, blocks: tuple[int, ...], params: int) -> ModelSpec:
    return ModelSpec(
        name=f"densenet{depth}",
        family="densenet",
        paper="Huang et al., Densely Connected Convolutional Networks, 2017 (DenseNet-BC)",
        input_size=224,
        in_channels=3,
        config=_frozen(
            blocks=blocks,
            growth_rate=32,
            bn_size=4,  # bottleneck width = bn_size * growth_rate
            compression=0.5,
            transition_pool=(2, 2),  # average pool of each transition: kernel, stride
            stem=(64, 7, 2, 3),
            stem_pool=(3, 2, 1),
            bn_eps=1e-5,
            bn_momentum=0.1,
        ),
        options=_frozen(bn_eps=BN_EPS),
        reference_params=params,
        reference_source=(
            f"torchvision.models.densenet{depth} published num_params; "
            "keras.applications agrees on the trainable count"
        ),
    )


DENSENET121 = _densenet(121, (6, 12, 24, 16), 7_978_856)
DENSENET169 = _densenet(169, (6, 12, 32, 32), 14_149_480)
DENSENET201 = _densenet(201, (6, 12, 48, 32), 20_013_928)


# Registration order is listing order (cnnbench.registry refuses a name twice).
ALL_SPECS: tuple[ModelSpec, ...] = (
    LENET5,
    ALEXNET,
    VGG11, VGG13, VGG16, VGG19,
    VGG11_BN, VGG13_BN, VGG16_BN, VGG19_BN,
    GOOGLENET,
    INCEPTION_V3,
    RESNET18, RESNET34, RESNET50, RESNET101, RESNET152,
    DENSENET121, DENSENET169, DENSENET201,
)


# --------------------------------------------------------------------------- the registry
_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a spec to the registry; a name registered twice is refused."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


for _spec in ALL_SPECS:
    register(_spec)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style wildcard (``"resnet*"``), in table order."""
    return [name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern)]


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name).lower(), list(_REGISTRY), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(_REGISTRY)}"
        ) from None


def check_build_args(name: str, num_classes: int | None, input_size: int | None, options: dict) -> ModelSpec:
    """Validate everything a builder takes, before any framework is imported."""
    spec = get_spec(name)
    if num_classes is None:
        num_classes = spec.num_classes
    positive_int("num_classes", num_classes)
    spec.resolve(**options)  # unknown options fail here
    if input_size is not None:
        positive_int("input_size", input_size, unit=" (pixels per side)")
        from cnnbench.core.analytic import min_input_size

        minimum = min_input_size(name, **options)
        if input_size < minimum:
            raise InputTooSmallError(
                f"{name}: input_size {input_size} is too small; the minimum input size is {minimum} "
                f"(default {spec.input_size})"
            )
    return spec
