"""Model structure diagrams for the report (drawn by cnnbench.diagram from the spec table, no framework)."""
from __future__ import annotations

from pathlib import Path

from cnnbench.reports.load import Run


def diagrams_for(runs: list[Run], out_dir: str | Path) -> dict[str, Path]:
    """SVG diagram per model in the runs; {} where Graphviz is not installed (the report says nothing then)."""
    try:
        from cnnbench.diagram import DiagramError, draw
    except ImportError:
        return {}
    models = sorted({(b.get("extra_info") or {}).get("model") for r in runs for b in r.data["benchmarks"]} - {None})
    out = Path(out_dir) / "diagrams"
    found = {}
    for model in models:
        try:
            found[model] = draw(model, out / f"{model}.svg", fmt="svg")
        except DiagramError:
            return {}
        except Exception:  # an unknown model name in an old run: no diagram, the report goes on
            continue
    return found
