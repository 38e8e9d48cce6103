"""THE training step and the inference step on each Keras engine: ``tf.function`` (XLA with
``--tf-jit``) on TensorFlow, ``jax.jit`` over ``stateless_call`` on JAX, eager or ``torch.compile``
on the torch backend; the same loss and SGD on all three."""
from __future__ import annotations

import contextlib

import keras

from cnnbench.models_tf.runtime import KERAS_BACKEND

def classification_loss(out, y, aux_weight: float = 0.0):
    """Cross-entropy of the logits in float32 (mixed-precision logits are cast), with keras.ops, so the
    same loss runs inside tf.function, jax.jit and torch. Networks with auxiliary heads return
    ``[logits, *aux_logits]`` in training mode; each auxiliary loss is added with ``aux_weight``."""
    def ce(logits):
        logits = keras.ops.cast(logits, "float32")
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    if isinstance(out, (list, tuple)):
        return ce(out[0]) + aux_weight * sum(ce(a) for a in out[1:])
    return ce(out)


def _optimizer(lr: float, momentum: float, precision: str):
    opt = keras.optimizers.SGD(learning_rate=lr, momentum=momentum)
    return keras.optimizers.LossScaleOptimizer(opt) if precision == "fp16" else opt


def make_train_step(model, *, lr: float, momentum: float, device: str = "cpu", precision: str = "fp32",
                    compile: bool = False, strategy=None):
    """THE training step on this process's Keras backend: forward, loss (aux heads weighted), backward,
    SGD with momentum (loss scaling for fp16). Returns ``step(x, y) -> (loss, logits)``; the caller
    synchronizes. ``compile``: XLA on TensorFlow, torch.compile on the torch backend; a JAX step is
    always jit-compiled. On JAX the weights live in the step (``step.write_back()`` copies them into
    the model).

    ``strategy`` (TensorFlow): a tf.distribute strategy whose scope built the model; the same step then
    runs on every replica through ``strategy.run``: each replica's loss is divided by the number of
    replicas, and the Keras optimizer all-reduces (sums) the gradients across replicas, so every worker
    applies the gradient of the mean loss over the global batch (as DistributedDataParallel does)."""
    aux_weight = getattr(model, "aux_weight", 0.0)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        opt = _optimizer(lr, momentum, precision)
        opt.build(model.trainable_variables)
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        replicas = strategy.num_replicas_in_sync if strategy is not None else 1

        def body(x, y):
            with tf.GradientTape() as tape:
                out = model(x, training=True)
                loss = classification_loss(out, y, aux_weight)
                share = loss / replicas if replicas > 1 else loss
                scaled = opt.scale_loss(share) if precision == "fp16" else share
            grads = tape.gradient(scaled, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss, out[0] if isinstance(out, (list, tuple)) else out

        if strategy is None:
            return tf.function(body, jit_compile=compile, reduce_retracing=True)

        @tf.function(jit_compile=compile)
        def distributed_step(x, y):
            loss, logits = strategy.run(body, args=(x, y))
            return strategy.experimental_local_results(loss)[0], strategy.experimental_local_results(logits)[0]

        return distributed_step
    if KERAS_BACKEND == "jax":
        import jax

        if precision == "fp16":
            raise NotImplementedError("fp16 training (dynamic loss scaling) is not implemented for Keras on JAX; "
                                      "use --precision bf16")

        def loss_fn(tv, ntv, x, y):
            out, ntv = model.stateless_call(tv, ntv, x, training=True)
            logits = out[0] if isinstance(out, (list, tuple)) else out
            return classification_loss(out, y, aux_weight), (ntv, logits)

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def jitted(tv, ntv, ov, x, y):
            (loss, (ntv, logits)), grads = grad_fn(tv, ntv, x, y)
            tv, ov = opt.stateless_apply(ov, grads, tv)
            return loss, logits, tv, ntv, ov

        state = [[v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                 [v.value for v in opt.variables]]

        def step(x, y):
            loss, logits, *state[:] = jitted(*state, x, y)
            return loss, logits

        def write_back():
            for group, values in zip((model.trainable_variables, model.non_trainable_variables, opt.variables), state):
                for v, value in zip(group, values):
                    v.assign(value)

        step.write_back = write_back
        step.state = state
        return step
    import torch

    net = torch.compile(model) if compile else model

    def torch_step(x, y):
        model.zero_grad()
        out = net(x, training=True)
        loss = classification_loss(out, y, aux_weight)
        (opt.scale_loss(loss) if precision == "fp16" else loss).backward()
        with torch.no_grad():
            opt.apply([v.value.grad for v in model.trainable_variables], model.trainable_variables)
        logits = out[0] if isinstance(out, (list, tuple)) else out
        return loss.detach(), logits.detach()

    return torch_step


def make_inference_step(model, *, device: str = "cpu", compile: bool = False):
    """Returns ``infer(x) -> logits`` (unsynchronized), the backend's compiled inference step."""
    if KERAS_BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: model(x, training=False), jit_compile=compile, reduce_retracing=True)
    if KERAS_BACKEND == "jax":
        import jax

        jitted = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        return lambda x: jitted(tv, ntv, x)
    import torch

    net = torch.compile(model) if compile else model

    def infer(x):
        with torch.no_grad():
            return net(x, training=False)

    return infer
