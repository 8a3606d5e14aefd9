"""The `atelier` command. Its `run`, `brief`, `spec`, `ui` and `mcp` forms are a stable contract
(DESIGN.md): with --json the last line of stdout is one JSON object; progress goes to stderr."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_LLM, DEFAULT_VIDEO_MODEL
from agent.core.errors import AtelierError
from agent.core.options import RunOptions as O
from agent.surfaces.server.command import serve_command
from agent.surfaces.cli_common import err, fail
from agent.surfaces.cli_exit import AtelierTyper

app = AtelierTyper(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Atelier: a brief in, an approved image out, with every attempt kept.")
models_app = typer.Typer(help="Local model weights: what is known and what is on this machine.")
app.add_typer(models_app, name="models")


def progress(event) -> None:
    """One line per event on stderr, so a person sees the run unfold and stdout stays clean (denoising
    steps are not lines: twenty an image would bury the rest)."""
    if event.type == "progress":
        return
    verdict = event.attempt.verdict if event.attempt else None
    styles = {"prompt_refined": "cyan", "verdict": "green" if verdict and verdict.approved else "yellow",
              "tool_error": "red", "run_finished": "bold"}
    text = event.message
    if event.type == "prompt_refined":
        text = f"prompt: {event.message}  [dim]({event.data.get('how')}; {event.data.get('changes')})[/]"
    elif event.type == "attempt_made":
        meta = event.attempt.artifact.meta
        text = f"{event.message} → {event.attempt.artifact.path.name}"
        if meta.get("revised_prompt"):
            text += f"\n  [dim]the service rewrote the prompt as:[/] {meta['revised_prompt']}"
        if meta.get("warning"):
            text += f"\n  [yellow]note:[/] {meta['warning']}"
    elif event.type == "verdict":
        text = f"attempt {event.attempt.index}: {event.message}"
    elif event.type == "run_finished":
        text = f"finished: {event.message}"
    if event.type in ("step_started", "message"):
        err.print(f"[dim]· {text}[/]", highlight=False, soft_wrap=True)
    else:
        err.print(f"[{styles.get(event.type, 'white')}]{event.type.replace('_', ' ')}[/] {text}",
                  highlight=False, soft_wrap=True)


progress.hears_steps = False  # it prints no steps, so none is previewed for it (RunContext.reporting_steps)


@app.command()
def run(brief: Optional[str] = typer.Argument(None, help="what to make"),
        llm: str = typer.Option(O.default("llm"), help=O.help("llm")),
        image_model: str = typer.Option(O.default("image_model"), "--image-model", help=O.help("image_model")),
        video_model: Optional[str] = typer.Option(None, "--video-model", help=O.help("video_model")),
        video_format: Optional[str] = typer.Option(None, "--video-format", help=O.help("video_format")),
        critic: str = typer.Option(O.default("critic"), help=O.help("critic")),
        mode: str = typer.Option(O.default("mode"), help=O.help("mode")),
        max_iterations: int = typer.Option(O.default("max_iterations"), "--max-iterations",
                                           help=O.help("max_iterations")),
        max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help=O.help("max_seconds")),
        max_cost: Optional[float] = typer.Option(None, "--max-cost", help=O.help("max_cost_usd")),
        candidates: int = typer.Option(O.default("candidates"), help=O.help("candidates")),
        seed: Optional[int] = typer.Option(None, help=O.help("seed")),
        rewrite: str = typer.Option(O.default("rewrite"), help=O.help("rewrite")),
        steps: Optional[int] = typer.Option(None, help=O.help("steps")),
        guidance: Optional[float] = typer.Option(None, help=O.help("guidance")),
        size: Optional[str] = typer.Option(None, help=O.help("size")),
        sampler: Optional[str] = typer.Option(None, help=O.help("sampler")),
        no_edits: bool = typer.Option(False, "--no-edits", help="never repair a region; only regenerate"),
        out: Path = typer.Option(Path("runs"), "--out", help="runs folder"),
        resume: Optional[str] = typer.Option(None, "--resume", help="continue the run RUN_ID (looked for in --out, "
                                             "./runs, ./batch/runs and the batch folders here)"),
        credentials: bool = typer.Option(True, "--credentials/--no-credentials", help="sign the delivered image "
                                         "with a C2PA manifest: made by a generative model, with the verdict"),
        local: bool = typer.Option(False, "--local", help="run in this process even when a warm server "
                                   "(atelier serve; ATELIER_SERVER=URL) is running"),
        as_json: bool = typer.Option(False, "--json", help="print the result as one JSON line")):
    """Turn a brief into an approved image (or, with --video-model and a brief about motion, a clip)."""
    try:  # every flag of a run checked as every surface checks it (agent.core.options)
        options = O.parse(llm=llm, image_model=image_model, video_model=video_model, video_format=video_format,
                          critic=critic, mode=mode, edits=not no_edits, max_iterations=max_iterations,
                          max_seconds=max_seconds, max_cost_usd=max_cost, candidates=candidates, seed=seed,
                          rewrite=rewrite, steps=steps, guidance=guidance, size=size, sampler=sampler)
    except AtelierError as e:
        fail(str(e))
    if options.rewrite == "review" and not sys.stdin.isatty():
        fail("--rewrite review needs a terminal to ask you; use auto or off")
    from agent.surfaces.interrupts import Interrupts
    from agent.surfaces.server.client import ServerGone, for_run
    with Interrupts() as interrupts:  # Ctrl-C stops the run after its current step, its record saved
        try:
            server = None if local or resume or options.rewrite == "review" else \
                for_run(out, lambda note: err.print(f"[dim]{note}[/]", highlight=False, soft_wrap=True),
                        llm=llm, video_format=video_format)
            if server is not None:  # a warm `atelier serve`: the same run, without loading anything here
                if brief is None:
                    fail("missing brief: atelier run \"two red circles left of a blue square\"")
                summary = server.run({"brief": brief, **options.model_dump(exclude={"video_format"})}, progress,
                                     interrupts)
                return _finish(summary, interrupts.interrupted, as_json, out)
            from agent.surfaces.api import Studio
            from agent.surfaces.run_folders import find_run
            studio = Studio(**options.studio_fields(), runs_dir=find_run(resume, out) if resume else out,
                            on_event=progress)
            interrupts.watch(studio)
            if resume:
                if brief:
                    fail("give either a brief or --resume RUN_ID, not both")
                result = studio.resume(resume)
            else:
                if brief is None:
                    fail("missing brief: atelier run \"two red circles left of a blue square\"")
                if options.video_model is None and _asks_for_motion(brief):
                    err.print(f"[yellow]note:[/] this brief asks for motion, but without --video-model it makes still "
                              f"images; add --video-model {DEFAULT_VIDEO_MODEL} (embedded) for a clip",
                              highlight=False, soft_wrap=True)
                result = studio.run(brief, **options.brief_fields(),
                                    review=review_in_terminal if options.rewrite == "review" else None)
        except AtelierError as e:  # refused before the run started: nothing was made
            if as_json:
                print(json.dumps({"run_id": None, "approved": False, "iterations": 0, "status": "failed",
                                  "error": str(e), "best": None, "attempts": []}))
            fail(str(e))
        except ServerGone as e:
            fail(str(e), 1)
    if credentials and result.best is not None:
        from agent.surfaces.credentials import credential_run
        err.print(f"[dim]content credentials: {credential_run(result.record, studio.store)}[/]", highlight=False,
                  soft_wrap=True)
    _finish(result.summary(), interrupts.interrupted, as_json, out)


def _finish(summary: dict, interrupted: bool, as_json: bool, out: Path) -> None:
    """The run's end, the same whether it ran here or on a warm server: the summary, then the exit code."""
    if as_json:
        print(json.dumps(summary))
    else:
        show(summary)
    if summary["status"] == "stopped" and interrupted:
        fail(f"interrupted: run {summary['run_id']} stopped after {len(summary['attempts'])} attempt(s), all saved; "
             f"continue it with atelier run --resume {summary['run_id']} --out {out}", 130)
    if summary["status"] in ("failed", "unverified"):
        fail(summary["error"] or f"the run ended {summary['status']}", 1)


def _asks_for_motion(brief: str) -> bool:
    from agent.core.plans import wants_clip
    from agent.core.spec_parser import parse_spec
    return wants_clip(brief, parse_spec(brief), video_model="any")


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
        # an edit's prompt says what its region was repainted with ("a lavender background" for a
        # removal), not what the picture shows: say what was edited instead
        made = (f"edit of attempt {best['source']}" + (f", region {best['region']}" if best.get("region") else "")
                + f" repainted as: {best['prompt']}") if best.get("action") == "edit" else f"prompt: {best['prompt']}"
        if best.get("action") == "edit" and best.get("typeset"):  # nothing repainted: the words set on it
            made = f"attempt {best['source']} with the words set: " + ", ".join(
                f"{t['text']!r} ({t['font']} {t['weight']} {t['size']} px at {t['box']})" for t in best["typeset"])
        out.print(f"best: {best['path']}\n      {made}  seed {best['seed']}", highlight=False)
        for issue in (best["verdict"] or {}).get("issues", []):
            out.print(f"      [yellow]issue:[/] {issue}", highlight=False)


@app.command("brief")
def brief_batch(
        file: Path = typer.Argument(..., help="YAML or JSONL: a list of briefs, each with at least id and brief"),
        out: Path = typer.Option(Path("batch"), "--out", help="the batch folder: holds runs/ (the runs folder "
                                 "that history and run --out take), summary.jsonl and report.html"),
        concurrency: int = typer.Option(2, "--concurrency", help="briefs in flight at once"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON line per brief at the end"),
        executor: str = typer.Option("local", "--executor", help="local (threads) or ray (tasks on a Ray cluster)"),
        max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="batch time budget: start no "
                                                    "brief after it, and cap the ones in flight"),
        max_cost: Optional[float] = typer.Option(None, "--max-cost", help="batch money budget, US dollars"),
        llm: str = typer.Option(O.default("llm"), help="default director for briefs that name none"),
        image_model: str = typer.Option(O.default("image_model"), "--image-model", help="default image back end"),
        video_model: Optional[str] = typer.Option(None, "--video-model", help="default video back end: briefs "
                                                  "about motion become clips"),
        critic: str = typer.Option(O.default("critic"), help="default critic"),
        mode: str = typer.Option(O.default("mode"), help="default mode: agent or loop"),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="run briefs that failed with an error again"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="with --executor ray: the cluster to "
                                                  "join (default: RAY_ADDRESS, else one `ray start` began on this "
                                                  "machine, else a local instance started for the batch)"),
        gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="with --executor ray: GPUs each worker "
                                              "holds (0: one worker per node, on CPU)"),
        briefs_per_worker: Optional[int] = typer.Option(None, "--briefs-per-worker", help="with --executor ray: "
                                                        "briefs each worker runs at once, so its pipelines batch "
                                                        "them (default: --concurrency spread over the workers)"),
        files: Optional[list[Path]] = typer.Option(None, "--files", help="a folder the briefs' reference images "
                                                   "may come from, besides the brief file's own (repeat)"),
        credentials: bool = typer.Option(True, "--credentials/--no-credentials", help="sign each delivered image "
                                         "with a C2PA manifest (made by a generative model, with the verdict)"),
        local: bool = typer.Option(False, "--local", help="run in this process even when a warm server "
                                   "(atelier serve --out OUT/runs; ATELIER_SERVER=URL) is running")):
    """Run a file of briefs; the same command again resumes where it stopped."""
    from agent.surfaces.batch import run_batch

    if executor not in ("local", "ray"):
        fail(f"--executor must be local or ray, not {executor!r}")
    try:  # the defaults checked as a run's options are (agent.core.options); each entry's are checked too
        defaults = O.parse(llm=llm, image_model=image_model, video_model=video_model, critic=critic, mode=mode)
    except AtelierError as e:
        fail(str(e))
    try:
        from agent.surfaces.run_folders import batch_folder
        out, note = batch_folder(out)
        if note:
            err.print(f"[dim]{note}[/]", highlight=False, soft_wrap=True)
        server = None
        if executor == "local" and not local:  # a warm `atelier serve` over OUT/runs runs the briefs
            from agent.surfaces.batch import RUNS
            from agent.surfaces.server.client import for_batch
            server = for_batch(out / RUNS, lambda note: err.print(f"[dim]{note}[/]", highlight=False, soft_wrap=True))
        result = run_batch(file, out, concurrency=concurrency, executor=executor, max_seconds=max_seconds,
                           max_cost=max_cost, retry_failed=retry_failed, ray_address=ray_address,
                           gpus_per_worker=gpus_per_worker, briefs_per_worker=briefs_per_worker, console=err,
                           files=files or (), credentials=credentials, server=server,
                           defaults=defaults.model_dump(include={"llm", "image_model", "critic", "mode", "video_model"},
                                                        exclude_none=True))
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: run the same command again to finish the rest", highlight=False)
        raise typer.Exit(130)
    except AtelierError as e:
        if as_json:
            print(json.dumps({"status": "failed", "error": str(e)}))
        fail(str(e))
    approved = sum(bool(line.get("approved")) for line in result.lines)
    err.print(f"{len(result.lines)} of {len(result.lines) + len(result.pending)} briefs finished, {approved} approved; "
              f"report: {result.report}", highlight=False, soft_wrap=True)
    if result.pending:
        err.print(f"[yellow]not run[/]: {', '.join(result.pending[:20])}{' …' if len(result.pending) > 20 else ''}"
                  f" ({result.stop_reason}); run the same command again to continue", highlight=False, soft_wrap=True)
    if as_json:
        for line in result.lines:
            print(json.dumps(line))
    else:
        for line in result.lines:
            state = "approved" if line["approved"] else line["status"]
            best = (line.get("best") or {}).get("path", "-")
            print(f"{line['id']}\t{state}\t{len(line['attempts'])} attempts\t{best}")
    sys.stdout.flush()
    if result.error:  # the batch could not go on (a full disk): what finished is kept, the rest runs next time
        fail(result.error, 1)
    if result.failed:
        errors = "; ".join(f"{i}: {next(l['error'] for l in result.lines if l['id'] == i)}" for i in result.failed)
        fail(f"{len(result.failed)} brief(s) failed: {errors}", 1)
    unchecked = [l["id"] for l in result.lines if l.get("status") == "unverified"]
    if unchecked:
        fail(f"{len(unchecked)} brief(s) could not be checked by the critic: {', '.join(map(str, unchecked[:10]))}", 1)


@app.command()
def spec(prompt: str, llm: str = typer.Option(DEFAULT_LLM), as_json: bool = typer.Option(False, "--json")):
    """Print the SceneSpec (GenEval format) the director derives from a prompt."""
    from agent.surfaces.api import spec_for
    try:
        if not prompt.strip():
            fail("the prompt is empty")
        derived = spec_for(prompt, llm)
    except AtelierError as e:
        fail(str(e))
    if derived is None:
        fail("no checkable objects found in the prompt (try 'a photo of two red circles')", 1)
    from agent.core.requirements import checklist
    items = [r.text for r in checklist(derived, prompt)]
    if as_json:
        print(json.dumps({**derived.to_geneval(), "checklist": items}))
    else:
        print(json.dumps(derived.to_geneval(), indent=1) + "\nchecklist:\n" + "\n".join(f"  - {t}" for t in items))


@app.command()
def critique(images: list[Path] = typer.Argument(..., help="the pictures (PNG, JPEG, WebP; a clip: MP4, GIF)"),
             brief: str = typer.Option(..., "--brief", help="what the pictures should show"),
             critic: str = typer.Option(DEFAULT_CRITIC, help="critic:detector, critic:vlm, or a+b"),
             llm: str = typer.Option(DEFAULT_LLM, help="derives the checklist from the brief"),
             as_json: bool = typer.Option(False, "--json", help="one JSON verdict line per image")):
    """Judge pictures you already have: the brief's checklist, each item passed, failed or unchecked,
    with what the critic saw. Exit 0 whether approved or not."""
    from agent.surfaces.api import Studio
    try:
        studio = Studio(llm=llm, critic=critic)
        spec = studio.spec(brief)
        for image in images:
            verdict = studio.critique(image, brief, spec)
            line = {"image": str(image.resolve()), **verdict.model_dump(
                mode="json", include={"critic", "approved", "requirements", "issues", "error", "scores"})}
            if as_json:
                print(json.dumps(line))
                continue
            state = "[green]approved[/]" if verdict.approved else f"[yellow]{verdict.state}[/]"
            Console().print(f"{image}: {state}", highlight=False)
            for r in verdict.requirements:
                mark = {"passed": "✓", "failed": "✗", "unchecked": "?"}[r.status]
                Console().print(f"  {mark} {r.text}" + (f" — {r.evidence}" if r.evidence else ""), highlight=False)
    except AtelierError as e:
        fail(str(e))


@app.command()
def history(out: Path = typer.Option(Path("runs"), "--out", help="the runs folder (atelier run --out), or a "
                                     "batch folder (atelier brief --out): its runs/ is read"),
            limit: int = typer.Option(20, help="the newest N runs"),
            as_json: bool = typer.Option(False, "--json", help="print the runs as one JSON list (newest first): "
                                         "run_id, status, brief, attempts, created, ...")):
    """List past runs from the run index."""
    from agent.core.records import RunStore
    from agent.surfaces.run_folders import runs_folder
    out, note = runs_folder(out)
    if note:
        err.print(f"[dim]{note}[/]", highlight=False, soft_wrap=True)
    try:
        rows = RunStore(out).history(limit)
    except AtelierError as e:
        if as_json:
            print(json.dumps({"status": "failed", "error": str(e)}))
        fail(str(e))
    if as_json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(f"{r['run_id']}  {r['status']:<12} {r['attempts']:>2} attempts  {r['brief'][:60]}")


@app.command()
def ui(host: str = typer.Option(None, help="default: $GRADIO_SERVER_NAME, else 127.0.0.1"),
       port: int = typer.Option(None, help="default: $GRADIO_SERVER_PORT, else 7860"),
       share: bool = typer.Option(False, help="make a public Gradio link (use with --auth)"),
       auth: Optional[str] = typer.Option(None, help="USER:PASSWORD[,USER2:PASSWORD2] (or $ATELIER_UI_AUTH)"),
       runs: Path = typer.Option(Path("runs"), "--runs", help="runs folder"),
       max_runs: int = typer.Option(4, "--max-runs", min=1, help="runs at once across all sessions"),
       single_user: bool = typer.Option(False, "--single-user", help="History may show every run in the folder"),
       llm: str = typer.Option(O.default("llm"), help="default " + O.help("llm")),
       image_model: str = typer.Option(O.default("image_model"), "--image-model", help="default " + O.help("image_model")),
       video_model: Optional[str] = typer.Option(None, "--video-model", help="default " + O.help("video_model")),
       critic: str = typer.Option(O.default("critic"), help="default " + O.help("critic")),
       max_iterations: int = typer.Option(O.default("max_iterations"), "--max-iterations",
                                          help="default " + O.help("max_iterations"))):
    """The chat UI (same as `python app.py`, with the same flags)."""
    from agent.surfaces import ui as ui_app
    from agent.surfaces.ui_support import Settings
    try:
        defaults = Settings.parse(llm=llm, image_model=image_model, video_model=video_model, critic=critic,
                                  max_iterations=max_iterations)
    except AtelierError as e:
        fail(str(e))
    ui_app.main(host=host, port=port, share=share, auth=auth, runs_dir=runs, max_runs=max_runs,
                single_user=single_user, defaults=defaults)


@app.command()
def mcp(transport: str = typer.Option("stdio", help="stdio or streamable-http"),
        port: int = 8765, out: Path = typer.Option(Path("runs"), "--out"),
        allow_llm_url: Optional[list[str]] = typer.Option(None, "--allow-llm-url", help="a server URL clients may "
                                                          "name in openai-compatible:MODEL@URL (repeat; also "
                                                          "ATELIER_ALLOWED_LLM_URLS)"),
        allow_loopback_llm: bool = typer.Option(False, "--allow-loopback-llm", help="clients may name LLM "
                                                "servers on this machine (also ATELIER_ALLOW_LOOPBACK_LLM=1)"),
        files: Optional[Path] = typer.Option(None, "--files", help="a folder whose images clients may name "
                                             "(besides their own runs' folders)"),
        video_model: Optional[str] = typer.Option(None, "--video-model", help="the default video back end "
                                                  "(e.g. local:shapes-video): run_brief on a motion brief makes a clip"),
        tokens: Optional[str] = typer.Option(None, "--tokens", help="streamable-http: the callers' bearer tokens, "
                                             "a file of NAME:TOKEN lines (or NAME:TOKEN,... pairs; also "
                                             "ATELIER_MCP_TOKENS); each caller sees only its own runs. "
                                             "Without: one caller, mcp:default")):
    """Serve Atelier's tools over MCP."""
    from agent.core.trust import TrustPolicy
    from agent.surfaces.mcp_server import serve
    try:
        policy = TrustPolicy.from_env(allowed_urls=allow_llm_url or (),
                                      allow_loopback=True if allow_loopback_llm else None)
    except AtelierError as e:
        fail(str(e))
    serve(transport=transport, port=port, runs_dir=out, policy=policy, files_dir=files, tokens=tokens,
          **({"video_model": video_model} if video_model else {}))


app.command("serve")(serve_command)  # agent/surfaces/server/command.py: the warm server for every surface


@models_app.command("list")
def models_list():
    """Known local models and whether their weights are on this machine."""
    from rich.table import Table

    from local_models.models_cli import list_models
    table = Table("model", "kind", "weights", "where / how to get them")
    table.add_row("shapes", "image", "[green]shipped[/]", "local_models/shapes/weights (embedded)")
    from local_models.shapes.video_backend import WEIGHTS as VIDEO_WEIGHTS
    table.add_row("shapes-video", "video", "[green]shipped[/]" if (VIDEO_WEIGHTS / "model_index.json").is_file()
                  else "[red]absent[/]", "local_models/shapes/weights-video (embedded)")
    table.add_row("shapes-animate", "video", "[green]shipped[/]", "no weights: a layer animator of a first frame "
                  "(local_models/shapes/animate_backend.py)")
    for row in list_models():
        where = row["path"] or f"atelier models pull {row['name']}  (or set {row['env']}=/path)"
        table.add_row(row["name"], row["kind"], "[green]present[/]" if row["present"] else "[dim]absent[/]", where)
    Console().print(table)


class _ListsModels(typer.core.TyperCommand):
    def format_help(self, ctx, formatter):  # the names are read when help is asked, not at every start
        from local_models.specs import SPECS
        self.epilog = "Models: " + ", ".join(sorted(SPECS)) + " (the embedded shapes models ship with Atelier)."
        return super().format_help(ctx, formatter)


@models_app.command("pull", cls=_ListsModels)
def models_pull(name: str = typer.Argument(..., help="a model's name (listed below; atelier models list shows "
                                           "which are on this machine)"),
                dry_run: bool = typer.Option(False, "--dry-run", help="print the files a pull fetches and their "
                                             "sizes; fetch nothing"),
                no_extras: bool = typer.Option(False, "--no-extras", help="the model alone: no refiner, "
                                               "ControlNets, IP-Adapter or depth model"),
                only: Optional[list[str]] = typer.Option(None, "--only", help="what to pull: base, refiner, "
                                                         "controlnet-canny, ... (repeatable)")):
    """Download a model's weights (needs internet)."""
    from local_models.models_cli import pull
    try:
        lines = pull(name, with_aux=not no_extras, only=only or None, dry_run=dry_run)
    except AtelierError as e:
        fail(str(e))
    if dry_run:
        typer.echo("\n".join(lines))


from agent.surfaces.cli_bench import bench  # noqa: E402
from agent.surfaces.cli_show import show as show_run  # noqa: E402
app.command()(bench)
app.command("show")(show_run)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
