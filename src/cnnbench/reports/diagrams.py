"""Model structure diagrams for the report (drawn by cnnbench.inspection.diagram from the spec table, no framework)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnnbench.core.errors import CnnbenchError
from cnnbench.reports.load import Run


@dataclass
class Diagrams:
    files: dict[str, Path] = field(default_factory=dict)  # model -> SVG
    left_out: str = ""  # why none (or not all) were drawn, said in stdout and in the HTML; "" when all were

    def __len__(self) -> int:
        return len(self.files)


def diagrams_for(runs: list[Run], out_dir: str | Path) -> Diagrams:
    """An SVG diagram per model in the runs. Where Graphviz is missing there are none, and ``left_out``
    says so (the report must not drop a section silently)."""
    try:
        from cnnbench.inspection.diagram import DiagramError, draw
    except ImportError as exc:
        return Diagrams(left_out=f"the diagram module cannot be imported ({exc})")
    models = sorted({(b.get("extra_info") or {}).get("model") for r in runs for b in r.data["benchmarks"]} - {None})
    out = Path(out_dir) / "diagrams"
    found, unknown = Diagrams(), []
    for model in models:
        try:
            found.files[model] = draw(model, out / f"{model}.svg", fmt="svg")
        except DiagramError as exc:  # Graphviz missing or the directory unwritable: no diagram can be drawn
            return Diagrams(left_out=str(exc))
        except CnnbenchError:  # an unknown model name in an old run: no diagram for it, the report goes on
            unknown.append(model)
    if unknown:
        found.left_out = f"no diagram for {', '.join(unknown)} (not a model of this cnnbench)"
    return found
