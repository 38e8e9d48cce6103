"""``cnnbench train lenet5``: LeNet-5 on real handwritten digits, in PyTorch and/or TensorFlow.

Both frameworks train the same network from the same initial weights (the PyTorch initialisation,
copied into Keras with ``transfer_weights`` when both are installed), on the same mini-batches in
the same order, with the same SGD with momentum, so their curves can be compared. Test accuracy is
measured after every epoch; time-to-accuracy (DAWNBench-style) is the training time, evaluation
excluded, until the test accuracy first reaches the target.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from cnnbench.core.case import runtime_of, to_layout
from cnnbench.core.errors import CnnbenchError
from cnnbench.registry import check_framework, get_spec
from cnnbench.zoo.dispatch import framework_backend, runtime_missing

TRAINABLE = ("lenet5",)  # the digits are 1-channel 28x28 images
DEFAULTS = {"epochs": 30, "batch": 32, "lr": 0.02, "momentum": 0.9, "seed": 0, "target": 0.97}
WEIGHT_FILES = {"torch": "{model}-torch.pt", "tf": "{model}-tf.weights.h5"}


@dataclass
class Epoch:
    epoch: int
    loss: float
    accuracy: float
    test_accuracy: float
    seconds: float  # training time of this epoch
    elapsed: float  # training time so far (evaluation excluded)


@dataclass
class TrainResult:
    model: str
    framework: str
    settings: dict
    history: list[Epoch] = field(default_factory=list)
    test_accuracy: float = float("nan")
    time_to_target_s: float | None = None
    epochs_to_target: int | None = None
    train_seconds: float = 0.0
    diverged: bool = False  # the loss became NaN or infinite

    def to_json(self) -> dict:
        return asdict(self)


def check_model(name: str) -> None:
    get_spec(name)  # unknown names fail with the list of known ones
    if name not in TRAINABLE:
        raise CnnbenchError(f"train: {name} needs {get_spec(name).input_size}px RGB images; the shipped digits "
                            f"are 1-channel 28x28, so train supports: {', '.join(TRAINABLE)}")


def build(name: str, framework: str, seed: int, *, init_from=None):
    """A fresh model from ``seed``; ``init_from`` (the twin zoo's model, its backend's
    ``INITIAL_WEIGHTS_FROM``) gives it the same initial weights."""
    check_framework(framework)
    from cnnbench.registry import get_model

    framework_backend(framework).set_seed(seed)
    model = get_model(name, framework=framework)
    if init_from is not None:
        from cnnbench.zoo.transfer import transfer_weights

        transfer_weights(init_from, model)
    return model


def twin_initial_model(name: str, framework: str, seed: int):
    """The model whose initial weights ``framework``'s model takes (the PyTorch twin's, for Keras), built
    from ``seed``; None when the zoo starts from its own initializers or the twin's framework is missing."""
    source = framework_backend(framework).INITIAL_WEIGHTS_FROM
    if source is None or runtime_missing(runtime_of(source)) is not None:
        return None
    return build(name, source, seed)


def trainer_for(framework: str, model, lr: float, momentum: float):
    """A Trainer on the framework's one training step (its backend's ``make_train_step``)."""
    from cnnbench.zoo.dispatch import runtime_backend

    return runtime_backend(runtime_of(framework)).Trainer(model, lr=lr, momentum=momentum)


def inputs(data, framework: str, split: str) -> np.ndarray:
    """The digits (drawn NCHW) in the framework's input layout."""
    x = data.x_train if split == "train" else data.x_test
    return to_layout(x, framework_backend(framework).INPUT_LAYOUT)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def train(name: str, framework: str, model, data, *, epochs: int, batch: int, lr: float, momentum: float,
          seed: int, target: float, out=None, stop_at_target: bool = False) -> tuple[TrainResult, object]:
    """Train ``model``; returns the result and the trainer (for predictions and saving).

    ``stop_at_target`` ends training at the first epoch whose test accuracy reaches ``target``
    (the time-to-accuracy benchmark); otherwise all ``epochs`` run.
    """
    if epochs < 0 or batch < 1:
        raise CnnbenchError(f"train: epochs must be >= 0 and batch >= 1, got epochs={epochs}, batch={batch}")
    if not 0 < target <= 1:
        raise CnnbenchError(f"train: --target is an accuracy in (0, 1], got {target}")
    settings = {"epochs": epochs, "batch": batch, "lr": lr, "momentum": momentum, "seed": seed, "target": target,
                "train_images": len(data.y_train), "test_images": len(data.y_test)}
    result = TrainResult(name, framework, settings)
    trainer = trainer_for(framework, model, lr, momentum)
    x_tr, x_te = inputs(data, framework, "train"), inputs(data, framework, "test")
    rng = np.random.default_rng(seed)  # the same batches in the same order in both frameworks
    steps = -(-len(data.y_train) // batch)
    elapsed = 0.0
    for e in range(1, epochs + 1):
        order = rng.permutation(len(data.y_train))
        bar = ProgressBar(steps, f"Epoch {e}/{epochs}", out) if out else None
        loss, acc, seconds = trainer.train_epoch(x_tr, data.y_train, order, batch,
                                                 on_step=bar.update if bar else None)
        elapsed += seconds
        test_acc = accuracy(trainer.predict(x_te), data.y_test)
        result.history.append(Epoch(e, loss, acc, test_acc, seconds, elapsed))
        if result.time_to_target_s is None and test_acc >= target:
            result.time_to_target_s, result.epochs_to_target = elapsed, e
        if bar:
            bar.finish(seconds, f"loss: {loss:.4f} - accuracy: {acc:.4f} - test_accuracy: {test_acc:.4f}")
        if not np.isfinite(loss):
            result.diverged = True
            break
        if stop_at_target and result.time_to_target_s is not None:
            break
    result.train_seconds = elapsed
    result.test_accuracy = accuracy(trainer.predict(x_te), data.y_test)
    return result, trainer


def time_to_accuracy_round(backend, model: str) -> dict:
    """One time-to-accuracy round in this process (a worker of the benchmark): train ``model`` with the
    defaults from the fixed seed until the test accuracy first reaches the target. The Keras model
    starts from the PyTorch initialisation when PyTorch is installed, as in ``cnnbench train``."""
    from cnnbench.train import digits

    framework = backend.FRAMEWORK
    data = digits.load()
    start = time.perf_counter()
    init = twin_initial_model(model, framework, DEFAULTS["seed"])
    net = build(model, framework, DEFAULTS["seed"], init_from=init)
    result, _ = train(model, framework, net, data, epochs=DEFAULTS["epochs"], batch=DEFAULTS["batch"],
                      lr=DEFAULTS["lr"], momentum=DEFAULTS["momentum"], seed=DEFAULTS["seed"],
                      target=DEFAULTS["target"], stop_at_target=True)
    return {"round_s": time.perf_counter() - start, "time_to_target_s": result.time_to_target_s,
            "epochs_to_target": result.epochs_to_target, "test_accuracy": result.test_accuracy,
            "settings": result.settings,
            "dataset": "scikit-learn load_digits scaled to 28x28 (1347 train / 450 test, random_state=0)"}


class ProgressBar:
    """Keras-style ``43/43 [=====>....] - 0.4s 9ms/step - loss: ...``; redraws in place on a terminal."""

    width = 30

    def __init__(self, steps: int, title: str, out):
        self.steps, self.out, self.tty = steps, out, out.isatty()
        self.start = time.perf_counter()
        print(title, file=out)

    def _bar(self, done: int) -> str:
        filled = int(self.width * done / self.steps)
        arrow = ">" if done < self.steps else ""
        return f"{done}/{self.steps} [" + "=" * filled + arrow + "." * (self.width - filled - len(arrow)) + "]"

    def update(self, done: int, loss: float, acc: float) -> None:
        if self.tty:
            self.out.write(f"\r{self._bar(done)} - loss: {loss:.4f} - accuracy: {acc:.4f}")
            self.out.flush()

    def finish(self, seconds: float, text: str) -> None:
        per = 1e3 * seconds / self.steps
        self.out.write(("\r" if self.tty else "") + f"{self._bar(self.steps)} - {seconds:.1f}s {per:.0f}ms/step - {text}\n")
        self.out.flush()


def transferred_agreement(model, data, source: str = "torch", target: str = "tf") -> int:
    """Copy a trained ``source`` model into a fresh ``target`` model; count equal predicted labels on the
    test split."""
    from cnnbench.registry import get_model
    from cnnbench.zoo.transfer import transfer_weights

    twin = get_model(model.cnnbench_name, framework=target)
    transfer_weights(model, twin)
    a = framework_backend(source).run_inference(model, inputs(data, source, "test")).argmax(1)
    b = framework_backend(target).run_inference(twin, inputs(data, target, "test")).argmax(1)
    return int((a == b).sum())
