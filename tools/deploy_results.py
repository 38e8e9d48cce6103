"""The deployment runtimes' measured table (docs/deploy.md) as a result file, from a harness run.

    python tools/deploy_results.py RUN.json --commit SHA --command "pytest bench ..." --out results/deploy-DATE.json
    python tools/results_pages.py            # then render its page

One table per model: each runtime's exported file (format, opset), node count, top ops, size, export time,
parity with its framework, median step time and its ratio to torch, read from the rows' extra_info (the
run's own figures; nothing typed). Exit 2 on a run with no export rows.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ORDER = ("torch", "keras-tf", "keras-jax", "keras-torch", "ort-from-torch", "ort-from-keras", "openvino-from-torch",
         "openvino-from-keras", "litert-from-keras")
COLUMNS = ["runtime", "file", "nodes", "top ops", "MiB", "export s", "parity", "median ms", "x torch"]
NOTES = [
    "**file**: the export's format and opset; **nodes**: the exported graph's node count (TFLite: operators), "
    "**top ops** its most frequent ops; **MiB**: the file's size; **export s**: the exporter's wall time; "
    "**parity**: max |engine output - source framework output| over the output's scale (max |output|) on the "
    "same input, tolerance 1e-4 in fp32. The Keras model takes the PyTorch twin's weights, so both zoos' files "
    "compute the same function.",
]


def _row(runtime: str, bench: dict, ref: float | None) -> list:
    e, median = bench["extra_info"], bench["stats"]["median"]
    timing = [f"{1e3 * median:.2f}", f"{median / ref:.2f}" if ref else "-"]
    if "export_ops" not in e:
        return [runtime, "-", "-", "-", "-", "-", "-", *timing]
    top = ", ".join(f"{op} {n}" for op, n in list(e["export_ops"].items())[:5])
    file = e["export_format"] + (f" opset {e['export_opset']}" if e.get("export_opset") else "")
    return [runtime, file, e["export_nodes"], top, f"{e['export_file_bytes'] / 2**20:.1f}", f"{e['export_s']:.1f}",
            f"{e['export_parity_rel']:.1e}", *timing]


def result(run: dict, commit: str, command: str, machine: str, notes: list[str]) -> dict:
    by_model: dict[str, dict[str, dict]] = {}
    versions: dict[str, str] = {}
    for bench in run["benchmarks"]:
        e = bench["extra_info"]
        if e.get("mode") != "inference":
            continue
        by_model.setdefault(e["model"], {})[e["runtime"]] = bench
        for key in ("torch_version", "tf_version", "keras_version", "onnxruntime_version", "openvino_version",
                    "litert_version", "onnx_version"):
            if e.get(key):
                versions[key.removesuffix("_version")] = str(e[key])
        if e.get("onnx_exporter_version"):  # onnxscript under torch.onnx, tf2onnx under Keras
            versions["onnxscript" if e["runtime"].endswith("-from-torch") else "tf2onnx"] = e["onnx_exporter_version"]
        if e.get("exporter_version"):
            versions[f"exporter ({e['runtime'].split('-from-')[1]} -> {e['export_format']})"] = e["exporter_version"]
    if not any("-from-" in rt for rows in by_model.values() for rt in rows):
        raise ValueError("the run has no export runtime's rows (pytest bench --runtimes ...,ort-from-torch,...)")
    tables = []
    for model, rows in by_model.items():
        ref = rows["torch"]["stats"]["median"] if "torch" in rows else None
        e = next(iter(rows.values()))["extra_info"]
        threads = e.get("setting_intra_op_threads")
        tables.append({"caption": f"{model}, inference, batch {e['batch']}, {e['input_size']} px, {e['device']}, "
                                  f"{threads} threads",
                       "columns": COLUMNS, "align": ["left", "left", "right", "left"] + ["right"] * 5,
                       "rows": [_row(rt, rows[rt], ref) for rt in ORDER if rt in rows]})
    info = run.get("machine_info") or {}
    cpu = info.get("cpu_model") or (info.get("cpu") or {}).get("brand_raw")
    return {"format": 1, "title": "Export runtimes: what export changes per model (ONNX Runtime, OpenVINO, LiteRT)",
            "dates": [run["datetime"][:10]],
            "time": f"{run['datetime'][11:16]} UTC (pytest-benchmark's datetime, as the run ended)",
            "machine": {"description": machine, "cpu": cpu, "cores": info.get("cpu_logical_cores"), "ram": None,
                        "gpu": info.get("gpu_name")},
            "versions": dict(sorted(versions.items())),
            "settings": "fp32, batch 1, the harness's threads in every runtime (read back from each engine)",
            "commit": commit, "commands": [{"as_run": command, "now": None}],
            "source": "the pytest-benchmark JSON of that run (not committed): the rows' extra_info",
            "raw_files": [], "tables": tables, "notes": NOTES + notes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/deploy_results.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the harness run's --benchmark-json")
    p.add_argument("--commit", required=True, help="the commit the run measured")
    p.add_argument("--command", required=True, help="the command as run")
    p.add_argument("--machine", default="the 2-core reference VM", help="the machine, in words")
    p.add_argument("--note", action="append", default=[], help="a Markdown paragraph (repeatable)")
    p.add_argument("--out", required=True, type=Path, help="results/deploy-<date>.json")
    args = p.parse_args(argv)
    try:
        out = result(json.loads(args.run.read_text()), args.commit, args.command, args.machine, args.note)
    except (OSError, ValueError, KeyError) as exc:
        print(f"deploy_results: error: {args.run}: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} ({len(out['tables'])} tables); now: python tools/results_pages.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
