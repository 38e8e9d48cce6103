"""What a model spec is, and the registry of every model's spec.

A spec holds one model's numbers, in one framework-free place: the paper, the default input, the
architecture's numbers (``config``), which of them a user may set (``options``, typed), reference
parameter counts with their source, and the family's topology. Each family file
(``cnnbench/core/families/<family>.py``) defines its specs beside its topology and registers them
when imported; the registry imports every family file on first use (a package scan), so nothing
lists the models by hand. ``models_torch/<family>.py`` reads the same entries and repeats no number.

Conventions fixed here, followed exactly by every implementation:

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
from typing import Any, Callable, Iterable, Mapping

from cnnbench.core.errors import InvalidValueError, UnknownModelError
from cnnbench.core.options import Option


@dataclass(frozen=True)
class Variant:
    """A reference parameter count for a non-default choice of options."""

    options: Mapping[str, Any]
    params: int
    source: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    paper: str
    published: str  # ISO date of the paper's first public version (arXiv v1 if any); orders list_models
    topology: Callable[..., Any]  # topology(ops, cfg, num_classes): see cnnbench.core.ops
    input_size: int
    in_channels: int
    config: Mapping[str, Any]
    reference_params: int
    reference_source: str
    options: Mapping[str, Option] = field(default_factory=lambda: MappingProxyType({}))  # settable config entries
    variants: tuple[Variant, ...] = ()
    num_classes: int = 1000

    @property
    def family(self) -> str:
        """The family's name: its files are cnnbench/core/families/<family>.py and models_torch/<family>.py."""
        return self.topology.__module__.rsplit(".", 1)[-1]

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


def frozen(**kw: Any) -> Mapping[str, Any]:
    """A read-only mapping, for a spec's config and options."""
    return MappingProxyType(kw)


# --------------------------------------------------------------------------- the registry
_REGISTRY: dict[str, ModelSpec] = {}
_DISCOVERED = False


def register(*specs: ModelSpec) -> None:
    """Add specs to the registry (a family file does, when imported); a name registered twice is refused."""
    for spec in specs:
        if spec.name in _REGISTRY:
            raise ValueError(f"model {spec.name!r} is already registered")
        _REGISTRY[spec.name] = spec


def _specs() -> list[ModelSpec]:
    """Every registered spec, in listing order: families by publication, then as each file registers them."""
    global _DISCOVERED
    if not _DISCOVERED:
        from cnnbench.core.families import import_all

        import_all()  # a family file that fails to import fails every lookup, not just the first
        _DISCOVERED = True
    return sorted(_REGISTRY.values(), key=lambda spec: spec.published)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style wildcard (``"resnet*"``): the oldest paper first."""
    return [spec.name for spec in _specs() if fnmatch.fnmatchcase(spec.name, pattern)]


def families() -> list[str]:
    """The registered families, in listing order."""
    return list(dict.fromkeys(spec.family for spec in _specs()))


def get_spec(name: str) -> ModelSpec:
    known = [spec.name for spec in _specs()]
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(str(name).lower(), known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownModelError(f"unknown model {name!r}.{hint} Known models: {', '.join(known)}")
