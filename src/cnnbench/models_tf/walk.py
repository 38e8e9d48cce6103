"""Every layer of a Keras model by name, nested models included (Keras 3 only: any backend)."""
from __future__ import annotations

import keras


def keras_layers(model) -> dict:
    """Layer name -> layer, descending into nested models (deduplicated); two different layers
    with one name are refused, since the suite pairs layers across frameworks by name."""
    found: dict = {}

    def walk(m):
        for layer in m.layers:
            if isinstance(layer, keras.Model):
                walk(layer)
            elif layer.name in found and found[layer.name] is not layer:
                from cnnbench.core.errors import TransferError

                raise TransferError(f"two different Keras layers are named {layer.name!r}")
            else:
                found[layer.name] = layer

    walk(model)
    return found
