"""`sidetrack models …` and `sidetrack embed`: pretrained models, offline once fetched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

models_app = typer.Typer(help="Pretrained models: fetch weights, list what is available.", no_args_is_help=True)


@models_app.command("list")
def list_models() -> None:
    """Every model SideTrack knows, and whether its weights are in the cache."""
    from sidetrack_pipeline.models import MODELS, is_cached
    from sidetrack_pipeline.models.cache import models_dir

    typer.echo(f"model cache: {models_dir()}")
    for name, spec in MODELS.items():
        state = "ready" if is_cached(name) else "not fetched"
        typer.echo(f"  {name:<14} {state:<12} {spec.description}")


@models_app.command("fetch")
def fetch(
    name: str = typer.Argument("musicnn", help="msd-musicnn, mtt-musicnn, or musicnn for both"),
    wheel: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                         help="use this musicnn-0.1.0 wheel instead of downloading it"),
    force: bool = typer.Option(False, help="convert again even when the cache is filled"),
) -> None:
    """Obtain the weights from the package index (or a given wheel), convert and verify them."""
    from sidetrack_pipeline.models import ModelNotAvailableError
    from sidetrack_pipeline.models.musicnn.fetch import fetch_musicnn

    if name not in {"musicnn", "msd-musicnn", "mtt-musicnn"}:
        typer.echo(f"error: {name} has no automatic fetch; give its weights by path (see `sidetrack models list`)",
                   err=True)
        raise typer.Exit(2)
    try:
        paths = fetch_musicnn(wheel=wheel, force=force)
    except ModelNotAvailableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    for model, path in sorted(paths.items()):
        typer.echo(f"{model}: {path}")


def embed(
    file: Path = typer.Argument(..., help="an audio file"),
    model: str = typer.Option("msd-musicnn", help="msd-musicnn or mtt-musicnn"),
    as_json: bool = typer.Option(False, "--json", help="print {model, dim, tags, embedding} as JSON"),
    device: str = typer.Option("auto", help="auto, cuda or cpu"),
    excerpt_seconds: float = typer.Option(0.0, help="embed a centred excerpt of this many seconds"),
) -> None:
    """Tag probabilities and the pooled embedding of one file (no database needed)."""
    from sidetrack_pipeline.audio.decode import AudioDecodeError
    from sidetrack_pipeline.models import ModelNotAvailableError
    from sidetrack_pipeline.models.musicnn.embed import embed_file

    try:
        result = embed_file(file, model_name=model, device=device, excerpt_seconds=excerpt_seconds)
    except (AudioDecodeError, ModelNotAvailableError, ValueError, KeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    vector = [round(float(x), 7) for x in result.penultimate_meanstd]
    if as_json:
        typer.echo(json.dumps({"model": result.model, "dim": len(vector), "tags": result.tags,
                               "embedding": vector, "patches": result.n_patches}))
        return
    top = sorted(result.tags.items(), key=lambda kv: -kv[1])[:8]
    typer.echo(f"{file}: {result.model}, {result.n_patches} patches, {len(vector)}-d embedding")
    for tag, prob in top:
        typer.echo(f"  {prob:5.2f}  {tag}")
