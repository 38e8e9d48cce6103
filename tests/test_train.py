"""`cnnbench train lenet5` on scikit-learn's digits: data, training, save/load, cross-framework predictions."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cnnbench.cli import main as cli_main


def test_digits_split_and_framing():
    from cnnbench.train import digits

    d = digits.load()
    # load_digits: 1,797 images; a stratified 25% split gives ceil(0.25 * 1797) = 450 test images
    assert len(d.y_train) == 1347 and len(d.y_test) == 450
    assert d.x_train.shape == (1347, 1, 28, 28) and d.x_train.dtype == np.float32
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    # MNIST-style framing: the 4-pixel border is empty
    assert not d.x_train[:, :, :4].any() and not d.x_train[:, :, -4:].any()
    assert np.bincount(d.y_test).min() >= 43  # every class in the test split (~45 each)
    again = digits.load()
    assert np.array_equal(again.y_test, d.y_test) and np.array_equal(again.x_test, d.x_test)


def test_train_rejects_models_the_digits_do_not_fit(capsys):
    assert cli_main(["train", "resnet18", "--epochs", "1"]) == 2
    assert "train supports: lenet5" in capsys.readouterr().err
    assert cli_main(["train", "lenet6"]) == 2
    assert "lenet5" in capsys.readouterr().err


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, torch_mod, keras_mod):
    """A short `cnnbench train lenet5 --framework both` (5 epochs), saved, with its printed log."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("train")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli_main(["train", "lenet5", "--framework", "both", "--epochs", "5", "--target", "0.5",
                         "--save", str(out), "--json", str(out / "history.json")])
    return code, buf.getvalue(), out


def test_short_training_in_both_frameworks(short_run):
    code, text, out = short_run
    assert code == 0, text
    assert text.count("Epoch 5/5") == 2 and "43/43 [==============================]" in text
    history = json.loads((out / "history.json").read_text())
    for fw in ("torch", "tf"):
        h = history[fw]["history"]
        assert len(h) == 5 and h[-1]["loss"] < h[0]["loss"]
        assert history[fw]["test_accuracy"] > 0.8  # 5 epochs of 43 steps: far above chance (0.1)
    # same initial weights, same batches, same optimizer: the curves agree closely
    t, k = history["torch"]["history"], history["tf"]["history"]
    assert abs(t[0]["loss"] - k[0]["loss"]) < 0.02
    assert "PyTorch-trained weights copied into Keras: 450/450 test predictions identical" in text


def test_saved_weights_reproduce_the_test_accuracy_exactly(short_run, capsys):
    code, text, out = short_run
    assert (out / "lenet5-torch.pt").exists() and (out / "lenet5-tf.weights.h5").exists()
    history = json.loads((out / "history.json").read_text())
    assert cli_main(["train", "lenet5", "--load", str(out), "--target", "0.5"]) == 0
    loaded = capsys.readouterr().out
    for fw, label in (("torch", "PyTorch"), ("tf", "Keras")):
        assert f"test accuracy {history[fw]['test_accuracy']:.4f}" in [
            line.split(": ", 1)[1] for line in loaded.splitlines() if line.startswith(label)][0]


def test_torch_trained_lenet5_predicts_the_same_labels_in_tf(short_run, torch_mod, keras_mod):
    from cnnbench.train import digits
    from cnnbench.registry import get_model
    from cnnbench.train.loop import transferred_agreement

    _, _, out = short_run
    model = get_model("lenet5", framework="torch")
    model.load_state_dict(torch_mod.load(out / "lenet5-torch.pt", weights_only=True))
    assert transferred_agreement(model, digits.load()) == 450


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_training_loss_adds_weighted_aux_heads(framework, request):
    """Zero logits over K classes give a cross-entropy of ln K (hand arithmetic); two auxiliary
    heads weighted 0.3 make it ln K * (1 + 2 * 0.3), as torchvision's GoogLeNet recipe adds them."""
    k, batch = 10, 4
    y = np.arange(batch) % k
    zeros = np.zeros((batch, k), "float32")
    if framework == "torch":
        from cnnbench.models_torch.backend import classification_loss

        t = request.getfixturevalue("torch_mod")
        main = float(classification_loss(t.from_numpy(zeros), t.from_numpy(y)))
        with_aux = float(classification_loss((t.from_numpy(zeros),) * 3, t.from_numpy(y), 0.3))
    else:
        request.getfixturevalue("keras_mod")
        import tensorflow as tf

        from cnnbench.models_tf.backend import classification_loss

        main = float(classification_loss(tf.constant(zeros), tf.constant(y)))
        # Keras models return auxiliary logits as a list; mixed-precision logits are cast to float32
        with_aux = float(classification_loss([tf.constant(zeros, tf.float16)] * 3, tf.constant(y), 0.3))
    assert main == pytest.approx(np.log(k), rel=1e-6)
    assert with_aux == pytest.approx(np.log(k) * 1.6, rel=1e-6)


def test_saved_weights_are_replaced_whole_or_not_at_all(tmp_path):
    """train --save writes each framework's weights to a temporary file beside the target and renames it into
    place: a write that fails half-way (here: a disk that fills after 10 bytes) leaves the weights saved before,
    whole, no temporary file, and one line naming the file."""
    import errno

    from cnnbench.core.errors import CnnbenchError
    from cnnbench.train.cli import _save_atomic

    class Trainer:
        def __init__(self, data: bytes, fail: bool = False):
            self.data, self.fail = data, fail

        def save(self, path: str) -> None:
            assert path.endswith(".weights.h5")  # Keras requires the suffix of the temporary file too
            with open(path, "wb") as f:
                f.write(self.data[:10])
                if self.fail:
                    raise OSError(errno.ENOSPC, "No space left on device")
                f.write(self.data[10:])

    target = tmp_path / "lenet5-tf.weights.h5"
    _save_atomic(Trainer(b"first weights, whole"), target)
    assert target.read_bytes() == b"first weights, whole"
    with pytest.raises(CnnbenchError, match=r"could not write .*lenet5-tf.weights.h5: No space left on device; "
                                            r"the weights saved before are unchanged"):
        _save_atomic(Trainer(b"second weights, never whole", fail=True), target)
    assert target.read_bytes() == b"first weights, whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5-tf.weights.h5"]
