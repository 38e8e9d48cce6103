"""Data-parallel rows after the run: scaling efficiency against world size 1 (weak scaling)."""
from __future__ import annotations


def apply_scaling(rows: list[dict]) -> None:
    """Scaling efficiency of every data-parallel row against the world-size-1 row of the same case in
    the same run: images/s at N workers / (N x images/s at 1 worker). Weak scaling (fixed per-worker batch)."""
    scaled = {_key(r.get("extra_info") or {}) for r in rows if (r.get("extra_info") or {}).get("world_size", 1) > 1}
    single = {}
    for row in rows:
        info = row.get("extra_info") or {}
        if info.get("world_size", 1) == 1 and info.get("images_per_s") and info.get("dist_backend"):
            single[_key(info)] = info["images_per_s"]
    for row in rows:
        info = row.get("extra_info") or {}
        ws = info.get("world_size", 1)
        base = single.get(_key(info))
        if info.get("images_per_s") and base and _key(info) in scaled:
            info["scaling_efficiency"] = info["images_per_s"] / (ws * base)


def _key(info: dict) -> tuple:
    return tuple(str(info.get(k)) for k in ("model", "runtime", "mode", "per_worker_batch", "device", "input_size",
                                            "precision", "layout", "compiled", "options"))
