"""A data-parallel PyTorch worker: the process group it joins (torchrun's env:// rendezvous), its rank,
the collective that gathers every rank's value, and the model wrapped in DistributedDataParallel."""
from __future__ import annotations

import os

import torch
from torch import nn

from cnnbench.core.case import Case
from cnnbench.models_torch.runtime import device_of


def start_process_group(device: str) -> None:
    """Join the job the way torchrun's workers do: env:// rendezvous (MASTER_ADDR, MASTER_PORT, RANK,
    WORLD_SIZE, LOCAL_RANK), NCCL on GPUs (one per worker), gloo on CPUs."""
    import datetime

    import torch.distributed as dist

    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = datetime.timedelta(seconds=float(os.environ.get("CNNBENCH_RENDEZVOUS_TIMEOUT", "120")))
    dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method="env://", timeout=timeout)


def distributed_info() -> dict | None:
    """Rank, world size and collective backend of a data-parallel worker, or None."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    return {"rank": dist.get_rank(), "world_size": dist.get_world_size(),
            "dist_backend": f"torch.distributed {dist.get_backend()} (DistributedDataParallel)"}


def gather(value) -> list:
    """Every rank's ``value`` (JSON-able), in rank order, through torch.distributed (all_gather_object)."""
    import torch.distributed as dist

    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def ddp(model: nn.Module, case: Case) -> nn.Module:
    """The single-device model wrapped by PyTorch's own data-parallel engine (gradients all-reduced
    and averaged during backward)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device_of(case).index] if case.device == "cuda" else None
    ddp = DistributedDataParallel(model, device_ids=ids)
    ddp.aux_weight = getattr(model, "aux_weight", 0.0)
    return ddp
