"""TensorFlow's data-parallel engine for a worker started as a rank of a job: the
MultiWorkerMirroredStrategy joined from ``TF_CONFIG``, the job's facts and its all-gather."""
from __future__ import annotations

import os

import numpy as np

STRATEGY = None  # the tf.distribute strategy of a data-parallel worker (created before any other op)


def start_multi_worker(device: str) -> None:
    """Join the TF_CONFIG cluster with MultiWorkerMirroredStrategy: collective all-reduce over ring
    (gRPC) on CPUs, NCCL on GPUs. TensorFlow requires the strategy before any other operation."""
    import tensorflow as tf

    global STRATEGY
    impl = tf.distribute.experimental.CommunicationImplementation
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=impl.NCCL if device == "cuda" else impl.RING,
        timeout_seconds=float(os.environ.get("CNNBENCH_RENDEZVOUS_TIMEOUT", "120")))
    STRATEGY = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def distributed_info() -> dict | None:
    """Rank, world size and collective backend of a data-parallel worker, or None."""
    if STRATEGY is None:
        return None
    import json

    cfg = json.loads(os.environ["TF_CONFIG"])
    return {"rank": cfg["task"]["index"], "world_size": STRATEGY.num_replicas_in_sync // max(
        1, len(STRATEGY.extended.worker_devices)), "replicas": STRATEGY.num_replicas_in_sync,
        "dist_backend": f"tf.distribute MultiWorkerMirroredStrategy, collective ops over "
                        f"{'NCCL' if 'GPU' in str(STRATEGY.extended.worker_devices) else 'RING (gRPC)'}"}


def gather(value) -> list:
    """Every worker's ``value`` (JSON-able), in rank order, through the strategy's collective all-gather."""
    import json

    import tensorflow as tf

    def all_gather(t):
        return tf.distribute.get_replica_context().all_gather(t, axis=0)

    def run(t):
        return STRATEGY.experimental_local_results(tf.function(lambda u: STRATEGY.run(all_gather, (u,)))(t))[0]

    data = np.frombuffer(json.dumps(value).encode(), np.uint8)
    lengths = run(tf.constant([len(data)], tf.int32)).numpy()
    padded = np.zeros((1, int(lengths.max())), np.uint8)
    padded[0, :len(data)] = data
    rows = run(tf.constant(padded)).numpy()
    return [json.loads(bytes(row[:n]).decode()) for row, n in zip(rows, lengths)]
