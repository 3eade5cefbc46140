"""`kg-service apikey create|list|revoke`: API keys for the GraphQL API."""

from __future__ import annotations

import typer

command_group = typer.Typer(help="Manage API keys of the GraphQL API (roles: reader, analyst, ontology-editor, "
                                 "admin).", no_args_is_help=True)
command_name = "apikey"


def _keys():
    from kg_service.api.auth import ApiKeyStore
    from kg_service.config import get_settings

    return ApiKeyStore(get_settings().api_keys_file)


@command_group.command("create")
def create(name: str = typer.Argument(..., help="Who or what uses the key"),
           role: str = typer.Option("reader", help="reader, analyst, ontology-editor or admin")) -> None:
    """Create a key and print it once; send it as 'Authorization: Bearer KEY'."""
    from kg_service.cli import _errors

    with _errors():
        try:
            key = _keys().create(name, role)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    typer.echo(key)


@command_group.command("list")
def list_keys() -> None:
    """List key names, roles and creation times (never the keys)."""
    from kg_service.cli import _errors

    with _errors():
        for entry in _keys().list():
            typer.echo(f"{entry['name']}\t{entry['role']}\t{entry['created']}")


@command_group.command("revoke")
def revoke(name: str = typer.Argument(..., help="Name given at creation")) -> None:
    """Revoke a key by name."""
    from kg_service.cli import _errors

    with _errors():
        revoked = _keys().revoke(name)
    if not revoked:
        typer.echo(f"error: no API key named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {name}")
