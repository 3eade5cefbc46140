"""`python -m kg_service` runs the `kg-service` command line."""

from kg_service.cli import app

app(prog_name="kg-service")
