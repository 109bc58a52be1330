"""docs/architecture.md's stage table says what the pipeline runs: the same stages, in the same order."""

from __future__ import annotations

import re
from pathlib import Path

from stratify.run.pipeline import STAGES

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
# Rows of the table that open and close the run around the stages, not stages themselves.
RUN_BOOKENDS = {"start_run", "finish_run"}


def stage_table(text: str) -> list[tuple[str, str]]:
    """(module, function) of each row of the table whose header is `| order | module | function | ...`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*order\s*\|\s*module\s*\|\s*function\s*\|", line))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        module = cells[1].strip("`")
        function = re.match(r"`?([A-Za-z_][A-Za-z0-9_]*)", cells[2]).group(1)
        rows.append((module, function))
    return rows


def test_the_stage_table_lists_the_pipelines_stages_in_order():
    rows = [r for r in stage_table(DOC.read_text(encoding="utf-8")) if r[1] not in RUN_BOOKENDS]
    assert [function for _, function in rows] == [target.split(":")[1] for _, target in STAGES]
    for (module, _), (name, target) in zip(rows, STAGES):
        path = target.split(":")[0].split(".")
        assert module == name or module in path, f"the table's module `{module}` for stage {name} is not in {target}"


def test_the_table_reader_sees_a_missing_or_moved_stage():
    doc = DOC.read_text(encoding="utf-8")
    rows = stage_table(doc)
    functions = [f for _, f in rows if f not in RUN_BOOKENDS]
    first = functions[0]
    without = "\n".join(line for line in doc.splitlines() if f"`{first}`" not in line or not line.startswith("|"))
    assert [f for _, f in stage_table(without) if f not in RUN_BOOKENDS] == functions[1:]
