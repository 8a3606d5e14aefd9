"""The `atelier` command. Its `run`, `brief`, `spec`, `ui` and `mcp` forms are a stable contract
(DESIGN.md): with --json the last line of stdout is one JSON object; progress goes to stderr."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from agent.errors import AtelierError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Atelier: a brief in, an approved image out, with every attempt kept.")
models_app = typer.Typer(help="Local model weights: what is known and what is on this machine.")
app.add_typer(models_app, name="models")
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def progress(event) -> None:
    """One line per event on stderr, so a person sees the run unfold and stdout stays clean."""
    styles = {"prompt_refined": "cyan", "verdict": "green" if "approved" == event.message[:8] else "yellow",
              "tool_error": "red", "run_finished": "bold"}
    text = event.message
    if event.type == "prompt_refined":
        text = f"prompt: {event.message}  [dim]({event.data.get('how')}; {event.data.get('changes')})[/]"
    elif event.type == "attempt_made":
        text = f"{event.message} → {event.attempt.artifact.path.name}"
    elif event.type == "verdict":
        text = f"attempt {event.attempt.index}: {event.message}"
    elif event.type == "run_finished":
        text = f"finished: {event.message}"
    if event.type in ("step_started", "message"):
        err.print(f"[dim]· {text}[/]", highlight=False, soft_wrap=True)
    else:
        err.print(f"[{styles.get(event.type, 'white')}]{event.type.replace('_', ' ')}[/] {text}",
                  highlight=False, soft_wrap=True)


@app.command()
def run(brief: Optional[str] = typer.Argument(None, help="what to make"),
        llm: str = typer.Option("offline", help="director: offline, anthropic:MODEL, openai:MODEL, "
                                "openai-compatible:MODEL@URL, scripted:FILE"),
        image_model: str = typer.Option("local:shapes", "--image-model"),
        video_model: Optional[str] = typer.Option(None, "--video-model"),
        critic: str = typer.Option("critic:detector", help="critic:detector, critic:vlm, or a+b"),
        mode: str = typer.Option("agent", help="agent (the LLM picks tools) or loop (fixed cycle)"),
        max_iterations: int = typer.Option(4, "--max-iterations"),
        max_seconds: Optional[float] = typer.Option(None, "--max-seconds"),
        max_cost: Optional[float] = typer.Option(None, "--max-cost", help="US dollars"),
        candidates: int = typer.Option(1, help="images per round"),
        seed: Optional[int] = typer.Option(None),
        rewrite: str = typer.Option("auto", help="auto, review (you confirm or edit) or off (verbatim)"),
        no_edits: bool = typer.Option(False, "--no-edits", help="never repair a region; only regenerate"),
        out: Path = typer.Option(Path("runs"), "--out", help="runs folder"),
        resume: Optional[str] = typer.Option(None, "--resume", help="continue the run RUN_ID"),
        as_json: bool = typer.Option(False, "--json", help="print the result as one JSON line")):
    """Turn a brief into an approved image."""
    from agent.api import Studio

    if mode not in ("agent", "loop"):
        fail(f"--mode must be agent or loop, not {mode!r}")
    if rewrite == "review" and not sys.stdin.isatty():
        fail("--rewrite review needs a terminal to ask you; use auto or off")
    try:
        studio = Studio(llm=llm, image_model=image_model, critic=critic, video_model=video_model,
                        mode=mode, runs_dir=out, edits=not no_edits, on_event=progress)
        if resume:
            if brief:
                fail("give either a brief or --resume RUN_ID, not both")
            result = studio.resume(resume)
        else:
            if brief is None:
                fail("missing brief: atelier run \"two red circles left of a blue square\"")
            budget = {"max_iterations": max_iterations, "max_seconds": max_seconds, "max_cost_usd": max_cost}
            result = studio.run(brief, budget=budget, seed=seed, candidates=candidates, rewrite=rewrite,
                                review=review_in_terminal if rewrite == "review" else None)
    except AtelierError as e:
        fail(str(e))
    summary = result.summary()
    if as_json:
        print(json.dumps(summary))
    else:
        show(summary)
    if result.status == "failed":
        fail(result.error or "the run failed", 1)


def review_in_terminal(brief: str, proposed: str) -> str | None:
    err.print(f"[bold]brief:[/]    {brief}\n[bold]rewrite:[/]  {proposed}", highlight=False)
    answer = typer.prompt("Use it? [y]es / [n]o (use the brief) / or type a new prompt", default="y", err=True)
    return proposed if answer.lower() in ("y", "yes") else None if answer.lower() in ("n", "no") else answer


def show(summary: dict) -> None:
    out = Console()
    best = summary["best"]
    state = "[green]approved[/]" if summary["approved"] else f"[yellow]{summary['status']}[/]"
    out.print(f"run {summary['run_id']}: {state} after {summary['iterations']} round(s), "
              f"{len(summary['attempts'])} attempt(s) — {summary['stop_reason']}", highlight=False)
    if best:
        out.print(f"best: {best['path']}\n      prompt: {best['prompt']}  seed {best['seed']}", highlight=False)
        for issue in (best["verdict"] or {}).get("issues", []):
            out.print(f"      [yellow]issue:[/] {issue}", highlight=False)


@app.command()
def spec(prompt: str, llm: str = typer.Option("offline"), as_json: bool = typer.Option(False, "--json")):
    """Print the SceneSpec (GenEval format) the director derives from a prompt."""
    from agent.api import spec_for
    try:
        if not prompt.strip():
            fail("the prompt is empty")
        derived = spec_for(prompt, llm)
    except AtelierError as e:
        fail(str(e))
    if derived is None:
        fail("no checkable objects found in the prompt (try 'a photo of two red circles')", 1)
    print(json.dumps(derived.to_geneval()) if as_json else json.dumps(derived.to_geneval(), indent=1))


@app.command()
def history(out: Path = typer.Option(Path("runs"), "--out"), limit: int = 20,
            as_json: bool = typer.Option(False, "--json")):
    """List past runs from the run index."""
    from agent.records import RunStore
    rows = RunStore(out).history(limit)
    if as_json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(f"{r['run_id']}  {r['status']:<12} {r['attempts']:>2} attempts  {r['brief'][:60]}")


@app.command()
def ui(host: str = "127.0.0.1", port: int = 7860, share: bool = False):
    """The chat UI (same as `python app.py`)."""
    import app as ui_app
    ui_app.main(host=host, port=port, share=share)


@app.command()
def mcp(transport: str = typer.Option("stdio", help="stdio or streamable-http"),
        port: int = 8765, out: Path = typer.Option(Path("runs"), "--out")):
    """Serve Atelier's tools over MCP."""
    from agent.mcp_server import serve
    serve(transport=transport, port=port, runs_dir=out)


@models_app.command("list")
def models_list():
    """Known local models and whether their weights are on this machine."""
    from local_models.models_cli import list_models
    for row in list_models():
        print("  ".join(str(x) for x in row))


@models_app.command("pull")
def models_pull(name: str):
    """Download a model's weights (needs internet)."""
    from local_models.models_cli import pull
    try:
        pull(name)
    except AtelierError as e:
        fail(str(e))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
