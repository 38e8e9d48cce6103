"""``cnnbench train lenet5``: LeNet-5 on real handwritten digits, in PyTorch and/or TensorFlow.

Both frameworks train the same network from the same initial weights (the PyTorch initialisation,
copied into Keras with ``transfer_weights`` when both are installed), on the same mini-batches in
the same order, with the same SGD with momentum, so their curves can be compared. Test accuracy is
measured after every epoch; time-to-accuracy (DAWNBench-style) is the training time, evaluation
excluded, until the test accuracy first reaches the target.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cnnbench.core.atomic import write_or_fail
from cnnbench.core.errors import CnnbenchError
from cnnbench.registry import check_framework, get_spec

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
    """A fresh model; ``init_from`` (a PyTorch model) gives the Keras model the same initial weights."""
    check_framework(framework)
    from cnnbench.registry import get_model

    if framework == "torch":
        import torch

        torch.manual_seed(seed)
        return get_model(name, framework="torch")
    import keras

    keras.utils.set_random_seed(seed)
    model = get_model(name, framework="tf")
    if init_from is not None:
        from cnnbench.zoo.transfer import transfer_weights

        transfer_weights(init_from, model)
    return model


def trainer_for(framework: str, model, lr: float, momentum: float):
    """A Trainer on the framework's one training step (its backend's ``make_train_step``)."""
    from cnnbench.zoo.dispatch import runtime_backend
    from cnnbench.core.case import runtime_of

    return runtime_backend(runtime_of(framework)).Trainer(model, lr=lr, momentum=momentum)


def inputs(data, framework: str, split: str) -> np.ndarray:
    x = data.x_train if split == "train" else data.x_test
    return x if framework == "torch" else data.nhwc(x)


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
    import importlib.util

    from cnnbench.train import digits

    framework = "torch" if backend.RUNTIME == "torch" else "tf"
    data = digits.load()
    start = time.perf_counter()
    init = None
    if framework == "tf" and importlib.util.find_spec("torch") is not None:
        init = build(model, "torch", DEFAULTS["seed"])
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


def add_train_arguments(p) -> None:
    p.add_argument("model", help="lenet5")
    p.add_argument("--framework", default="both", choices=("torch", "tf", "both"))
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--momentum", type=float, default=DEFAULTS["momentum"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--target", type=float, default=DEFAULTS["target"], help="test accuracy for time-to-accuracy")
    p.add_argument("--save", metavar="DIR", help="write the trained weights (state_dict / .weights.h5) and a JSON log")
    p.add_argument("--load", metavar="DIR", help="evaluate weights saved by --save instead of training")
    p.add_argument("--json", metavar="FILE", help="write the per-epoch history of each framework as JSON")
    p.set_defaults(func=run_cli)


def _check_arguments(args) -> None:
    """Everything a training run needs, checked before the first epoch: bad numbers, and output paths
    that could not be written after it (the trained weights would be lost)."""
    import math

    def number(name, value, ok, rule):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and ok(value)):
            raise CnnbenchError(f"train: {name} must be {rule}, got {value!r}")

    number("--epochs", args.epochs, lambda v: v >= 1 and v == int(v), "a whole number >= 1")
    number("--batch", args.batch, lambda v: v >= 1 and v == int(v), "a whole number >= 1")
    number("--lr", args.lr, lambda v: v > 0, "a positive number")
    number("--momentum", args.momentum, lambda v: 0 <= v < 1, "in [0, 1)")
    number("--target", args.target, lambda v: 0 < v <= 1, "an accuracy in (0, 1]")
    if args.load:
        src = Path(args.load)
        if src.is_file():
            raise CnnbenchError(f"train --load takes the directory written by --save; {src} is a file "
                                f"(give --load {src.parent})")
        if not src.is_dir():
            raise CnnbenchError(f"train --load: {src} is not a directory; give the directory written by --save")
    if args.save:
        out = Path(args.save)
        if out.exists() and not out.is_dir():
            raise CnnbenchError(f"train --save takes a directory; {out} is a file: give a directory name")
        parent = out if out.is_dir() else out.parent
        if not parent.is_dir():
            raise CnnbenchError(f"train --save {out}: the directory {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CnnbenchError(f"train --save {out}: {parent} is not writable; give a directory you can write")
    if args.json:
        path = Path(args.json)
        if path.is_dir():
            raise CnnbenchError(f"train --json takes a file name; {path} is a directory (e.g. {path / 'history.json'})")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise CnnbenchError(f"train --json {path}: cannot write in {parent} (missing or not writable)")


def run_cli(args) -> int:
    from cnnbench.train import digits

    check_model(args.model)
    _check_arguments(args)
    frameworks = ("torch", "tf") if args.framework == "both" else (args.framework,)
    data = digits.load()
    print(f"data: scikit-learn load_digits, 8x8 scans scaled to 28x28; {len(data.y_train)} train / "
          f"{len(data.y_test)} test images (stratified 25% split, random_state={digits.SPLIT_SEED})")
    if args.load:
        return _evaluate_saved(args, frameworks, data)
    results, trainers, models = {}, {}, {}
    for fw in frameworks:
        init = models.get("torch_init")
        models[fw] = build(args.model, fw, args.seed, init_from=init)
        if fw == "torch" and "tf" in frameworks:
            models["torch_init"] = _clone_torch(models["torch"])
        print(f"\n== {args.model}, {_name(fw)}" + (" (initial weights copied from PyTorch)" if fw == "tf" and init else ""))
        results[fw], trainers[fw] = train(args.model, fw, models[fw], data, epochs=args.epochs, batch=args.batch,
                                          lr=args.lr, momentum=args.momentum, seed=args.seed, target=args.target,
                                          out=sys.stdout)
    print()
    diverged = [fw for fw, r in results.items() if r.diverged]
    for fw in diverged:
        print(f"warning: {_name(fw)}'s training loss became NaN/inf at epoch {results[fw].history[-1].epoch} and "
              f"training stopped; a smaller --lr (now {args.lr}) usually helps", file=sys.stderr)
    ok = True
    for fw, r in results.items():
        ttt = (f"{r.time_to_target_s:.1f} s (epoch {r.epochs_to_target})" if r.time_to_target_s is not None
               else f"not reached in {args.epochs} epochs")
        print(f"{_name(fw):10s} test accuracy {r.test_accuracy:.4f}; time to {args.target:.0%}: {ttt}; "
              f"training {r.train_seconds:.1f} s")
        ok &= r.test_accuracy >= args.target and not r.diverged
    if "torch" in trainers and "tf" in frameworks:
        same = transferred_agreement(models["torch"], data)
        print(f"PyTorch-trained weights copied into Keras: {same}/{len(data.y_test)} test predictions identical")
        ok &= same == len(data.y_test)
    if args.save:
        _save(args, trainers, results)
    if args.json:
        write_or_fail(Path(args.json), json.dumps({fw: r.to_json() for fw, r in results.items()}, indent=2),
                      CnnbenchError)
    return 0 if ok else 1


def _name(fw: str) -> str:
    return {"torch": "PyTorch", "tf": "TensorFlow"}[fw]


def _clone_torch(model):
    import copy

    return copy.deepcopy(model)


def transferred_agreement(torch_model, data) -> int:
    """Copy a trained PyTorch model into a fresh Keras model; count equal predicted labels on the test split."""
    import torch

    from cnnbench.registry import get_model
    from cnnbench.zoo.transfer import transfer_weights

    keras_model = get_model(torch_model.cnnbench_name, framework="tf")
    transfer_weights(torch_model, keras_model)
    torch_model.eval()
    with torch.no_grad():
        a = torch_model(torch.from_numpy(data.x_test)).numpy().argmax(1)
    b = np.asarray(keras_model(data.nhwc(data.x_test), training=False)).argmax(1)
    return int((a == b).sum())


def _save(args, trainers, results) -> None:
    out = Path(args.save)
    out.mkdir(exist_ok=True)  # its parent was checked before training
    for fw, trainer in trainers.items():
        path = out / WEIGHT_FILES[fw].format(model=args.model)
        trainer.save(str(path))
        print(f"saved {_name(fw)} weights to {path}")
    log = {fw: r.to_json() for fw, r in results.items()}
    write_or_fail(out / f"{args.model}-train.json", json.dumps(log, indent=2), CnnbenchError)


def _evaluate_saved(args, frameworks, data) -> int:
    src = Path(args.load)
    status = 0
    for fw in frameworks:
        path = src / WEIGHT_FILES[fw].format(model=args.model)
        if not path.exists():
            raise CnnbenchError(f"train --load: {path} not found; write it first with "
                                f"`cnnbench train {args.model} --save {src}`")
        model = build(args.model, fw, args.seed)
        trainer = trainer_for(fw, model, args.lr, args.momentum)
        try:
            trainer.load(str(path))
        except Exception as exc:  # noqa: BLE001  (pickle, h5py, shape errors: all mean "not our weights")
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CnnbenchError(f"train --load: {path} is not a {args.model} weights file written by --save "
                                f"({type(exc).__name__}: {first})") from None
        acc = accuracy(trainer.predict(inputs(data, fw, "test")), data.y_test)
        print(f"{_name(fw):10s} weights from {path}: test accuracy {acc:.4f}")
        status |= 0 if acc >= args.target else 1
    return status
