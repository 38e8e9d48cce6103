"""``cnnbench train lenet5``: its arguments, their checks before the first epoch, the run in each
framework and the saved weights (the training itself: ``cnnbench.train.loop``)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cnnbench.core.atomic import write_or_fail
from cnnbench.core.errors import CnnbenchError
from cnnbench.registry import FRAMEWORKS
from cnnbench.train.loop import (DEFAULTS, WEIGHT_FILES, accuracy, build, check_model, inputs, train, trainer_for,
                                 transferred_agreement)
from cnnbench.zoo.dispatch import framework_backend


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
    frameworks = FRAMEWORKS if args.framework == "both" else (args.framework,)
    loaded = _load_saved(args, frameworks) if args.load else None  # a bad weights file: refused before the data
    data = digits.load()
    print(f"data: scikit-learn load_digits, 8x8 scans scaled to 28x28; {len(data.y_train)} train / "
          f"{len(data.y_test)} test images (stratified 25% split, random_state={digits.SPLIT_SEED})")
    if loaded is not None:
        return _evaluate_saved(args, loaded, data)
    results, trainers, models, initial = {}, {}, {}, {}
    twin = {fw: framework_backend(fw).INITIAL_WEIGHTS_FROM for fw in frameworks}  # whose initial weights fw takes
    for fw in frameworks:  # FRAMEWORKS' order: a twin whose weights another zoo takes comes first
        init = initial.get(twin[fw])
        models[fw] = build(args.model, fw, args.seed, init_from=init)
        if fw in twin.values():
            initial[fw] = _clone(models[fw])  # before training: the other zoo starts where this one started
        print(f"\n== {args.model}, {_name(fw)}"
              + (f" (initial weights copied from {_name(twin[fw])})" if init is not None else ""))
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
    for fw, source in twin.items():
        if source in trainers:
            same = transferred_agreement(models[source], data, source, fw)
            print(f"{_name(source)}-trained weights copied into {_name(fw)}: {same}/{len(data.y_test)} test "
                  "predictions identical")
            ok &= same == len(data.y_test)
    if args.save:
        _save(args, trainers, results)
    if args.json:
        write_or_fail(Path(args.json), json.dumps({fw: r.to_json() for fw, r in results.items()}, indent=2),
                      CnnbenchError)
    return 0 if ok else 1



def _name(fw: str) -> str:
    return framework_backend(fw).NAME



def _clone(model):
    import copy

    return copy.deepcopy(model)



def _save(args, trainers, results) -> None:
    out = Path(args.save)
    out.mkdir(exist_ok=True)  # its parent was checked before training
    for fw, trainer in trainers.items():
        path = out / WEIGHT_FILES[fw].format(model=args.model)
        _save_atomic(trainer, path)
        print(f"saved {_name(fw)} weights to {path}")
    log = {fw: r.to_json() for fw, r in results.items()}
    write_or_fail(out / f"{args.model}-train.json", json.dumps(log, indent=2), CnnbenchError)



def _save_atomic(trainer, path: Path) -> None:
    """The framework writes the weights to a temporary file beside ``path`` (its name keeps the suffix Keras
    requires), flushed to disk, then renamed over ``path``: a full disk or an interruption leaves the weights
    saved before, whole, and no partial file (docs/reliability.md)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{''.join(path.suffixes[-2:])}")
    try:
        trainer.save(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as a RuntimeError
        raise CnnbenchError(f"train --save: could not write {path}: {getattr(exc, 'strerror', None) or exc}; the weights saved "
                            "before are unchanged") from None
    finally:
        tmp.unlink(missing_ok=True)


def _load_saved(args, frameworks) -> dict:
    """Each framework's trainer with the weights ``--save`` wrote into ``--load``'s directory: a missing or
    foreign file is one line, before any data is loaded."""
    src = Path(args.load)
    paths = {fw: src / WEIGHT_FILES[fw].format(model=args.model) for fw in frameworks}
    for path in paths.values():
        if not path.exists():
            raise CnnbenchError(f"train --load: {path} not found; write it first with "
                                f"`cnnbench train {args.model} --save {src}`")
    loaded = {}
    for fw, path in paths.items():
        trainer = trainer_for(fw, build(args.model, fw, args.seed), args.lr, args.momentum)
        try:
            trainer.load(str(path))
        except Exception as exc:  # noqa: BLE001  (pickle, h5py, shape errors: all mean "not our weights")
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CnnbenchError(f"train --load: {path} is not a {args.model} weights file written by --save "
                                f"({type(exc).__name__}: {first})") from None
        loaded[fw] = (path, trainer)
    return loaded


def _evaluate_saved(args, loaded: dict, data) -> int:
    status = 0
    for fw, (path, trainer) in loaded.items():
        acc = accuracy(trainer.predict(inputs(data, fw, "test")), data.y_test)
        print(f"{_name(fw):10s} weights from {path}: test accuracy {acc:.4f}")
        status |= 0 if acc >= args.target else 1
    return status
