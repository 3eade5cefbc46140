"""Every notebook runs top to bottom in a Jupyter kernel against the test Neo4j; its asserts check what it shows.

The kernel is the project's Python (the one running pytest) and inherits this process's
environment, so KG_STATE_DIR, KG_BOLT_PORT and any NEO4J_* settings of the test session reach
the notebooks. Figures and graph views go to a temporary folder.
"""

from __future__ import annotations

import sys

import nbformat
import pytest
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import ROOT

pytestmark = pytest.mark.neo4j

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(empty_graph, path, tmp_path, monkeypatch):
    monkeypatch.setenv("KG_NOTEBOOK_OUTPUT_DIR", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name=NATIVE_KERNEL_NAME,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        nbformat.write(notebook, tmp_path / path.name)
        pytest.fail(f"{path.name} failed (executed copy in {tmp_path / path.name}):\n{error}")

    errors = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors
    nodes, _ = empty_graph.counts()
    assert nodes > 0


def test_kernel_is_project_python():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    NotebookClient(notebook, timeout=60, kernel_name=NATIVE_KERNEL_NAME).execute()
    printed = notebook.cells[0].outputs[0]["text"].strip()
    assert printed == sys.executable
