"""The `atelier` command. Its `run`, `brief`, `spec`, `ui` and `mcp` forms are a stable contract
(DESIGN.md): with --json the last line of stdout is one JSON object; progress goes to stderr."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import AtelierError
from agent.surfaces.server.command import serve_command

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


@app.command()
def run(brief: Optional[str] = typer.Argument(None, help="what to make"),
        llm: str = typer.Option(DEFAULT_LLM, help="director: offline, anthropic:MODEL, openai:MODEL, "
                                "openai-compatible:MODEL@URL, scripted:FILE"),
        image_model: str = typer.Option(DEFAULT_IMAGE_MODEL, "--image-model"),
        video_model: Optional[str] = typer.Option(None, "--video-model", help="e.g. local:shapes-video: a brief "
                                                  "about motion becomes a clip"),
        video_format: Optional[str] = typer.Option(None, "--video-format", help="mp4 or gif (default: the "
                                                   "video model's, mp4 for local:shapes-video)"),
        critic: str = typer.Option(DEFAULT_CRITIC, help="critic:detector, critic:vlm, or a+b"),
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
        local: bool = typer.Option(False, "--local", help="run in this process even when a warm server "
                                   "(atelier serve; ATELIER_SERVER=URL) is running"),
        as_json: bool = typer.Option(False, "--json", help="print the result as one JSON line")):
    """Turn a brief into an approved image (or, with --video-model and a brief about motion, a clip)."""
    if mode not in ("agent", "loop"):
        fail(f"--mode must be agent or loop, not {mode!r}")
    if rewrite == "review" and not sys.stdin.isatty():
        fail("--rewrite review needs a terminal to ask you; use auto or off")
    from agent.surfaces.interrupts import Interrupts
    from agent.surfaces.server.client import ServerGone, for_run
    with Interrupts() as interrupts:  # Ctrl-C stops the run after its current step, its record saved
        try:
            server = None if local or resume or rewrite == "review" else \
                for_run(out, lambda note: err.print(f"[dim]{note}[/]", highlight=False, soft_wrap=True),
                        llm=llm, video_format=video_format)
            if server is not None:  # a warm `atelier serve`: the same run, without loading anything here
                if brief is None:
                    fail("missing brief: atelier run \"two red circles left of a blue square\"")
                summary = server.run({"brief": brief, "llm": llm, "image_model": image_model, "critic": critic,
                                      "video_model": video_model, "mode": mode, "max_iterations": max_iterations,
                                      "max_seconds": max_seconds, "max_cost_usd": max_cost, "candidates": candidates,
                                      "seed": seed, "rewrite": rewrite, "edits": not no_edits}, progress, interrupts)
                return _finish(summary, interrupts.interrupted, as_json, out)
            from agent.surfaces.api import Studio
            studio = Studio(llm=llm, image_model=image_model, critic=critic, video_model=video_model,
                            video_format=video_format,
                            mode=mode, runs_dir=out, edits=not no_edits, on_event=progress)
            interrupts.watch(studio)
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
        except AtelierError as e:  # refused before the run started: nothing was made
            if as_json:
                print(json.dumps({"run_id": None, "approved": False, "iterations": 0, "status": "failed",
                                  "error": str(e), "best": None, "attempts": []}))
            fail(str(e))
        except ServerGone as e:
            fail(str(e), 1)
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


@app.command("brief")
def brief_batch(
        file: Path = typer.Argument(..., help="YAML or JSONL: a list of briefs, each with at least id and brief"),
        out: Path = typer.Option(Path("batch"), "--out", help="holds runs/, summary.jsonl and report.html"),
        concurrency: int = typer.Option(2, "--concurrency", help="briefs in flight at once"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON line per brief at the end"),
        executor: str = typer.Option("local", "--executor", help="local (threads) or ray (tasks on a Ray cluster)"),
        max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="batch time budget: start no "
                                                    "brief after it, and cap the ones in flight"),
        max_cost: Optional[float] = typer.Option(None, "--max-cost", help="batch money budget, US dollars"),
        llm: str = typer.Option(DEFAULT_LLM, help="default director for briefs that name none"),
        image_model: str = typer.Option(DEFAULT_IMAGE_MODEL, "--image-model", help="default image back end"),
        video_model: Optional[str] = typer.Option(None, "--video-model", help="default video back end: briefs "
                                                  "about motion become clips"),
        critic: str = typer.Option(DEFAULT_CRITIC, help="default critic"),
        mode: str = typer.Option("agent", help="default mode: agent or loop"),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="run briefs that failed with an error again"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster (default: RAY_ADDRESS or auto)"),
        gpus_per_brief: float = typer.Option(0.0, "--gpus-per-brief", help="GPUs each Ray worker holds"),
        files: Optional[list[Path]] = typer.Option(None, "--files", help="a folder the briefs' reference images "
                                                   "may come from, besides the brief file's own (repeat)")):
    """Run a file of briefs; the same command again resumes where it stopped."""
    from agent.surfaces.batch import run_batch

    if executor not in ("local", "ray"):
        fail(f"--executor must be local or ray, not {executor!r}")
    if mode not in ("agent", "loop"):
        fail(f"--mode must be agent or loop, not {mode!r}")
    try:
        result = run_batch(file, out, concurrency=concurrency, executor=executor, max_seconds=max_seconds,
                           max_cost=max_cost, retry_failed=retry_failed, ray_address=ray_address,
                           gpus_per_brief=gpus_per_brief, console=err, files=files or (),
                           defaults={"llm": llm, "image_model": image_model, "critic": critic, "mode": mode,
                                     **({"video_model": video_model} if video_model else {})})
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
def history(out: Path = typer.Option(Path("runs"), "--out"), limit: int = 20,
            as_json: bool = typer.Option(False, "--json")):
    """List past runs from the run index."""
    from agent.core.records import RunStore
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
def bench(quick: bool = typer.Option(False, "--quick", help="a stratified subset (4 prompts per category)"),
          limit: Optional[int] = typer.Option(None, "--limit", help="only the first N prompts (stratified)"),
          offset: int = typer.Option(0, "--offset", help="skip the first N prompts (run the suite in parts)"),
          per_category: Optional[int] = typer.Option(None, "--per-category", help="the first K of each category"),
          budget: int = typer.Option(4, "--budget", min=1, max=16, help="images per prompt, for every strategy"),
          llm: Optional[list[str]] = typer.Option(None, "--llm", help="also run an LLM director, e.g. "
                                                  "openai-compatible:MODEL@URL (repeat to compare)"),
          strategies: Optional[str] = typer.Option(None, "--strategies",
                                                   help="comma-separated: single,best_of_n,loop,loop_edits"),
          image_model: str = typer.Option(DEFAULT_IMAGE_MODEL, "--image-model"),
          critic: str = typer.Option(DEFAULT_CRITIC, "--critic", help="the loop's critic, for every strategy"),
          judge: Optional[str] = typer.Option(None, "--judge", help="what scores the delivered images: "
                                              "judge:shapes (default: a checker built apart from the critic) "
                                              "or a critic spec; with --video, the clip critic"),
          per_prompt: bool = typer.Option(False, "--per-prompt", help="also print, per prompt and strategy, "
                                          "the verdicts, images, denoising steps and critic calls"),
          seed: int = typer.Option(0, "--seed", help="base seed; prompt i uses seed + 100 i"),
          out: Optional[Path] = typer.Option(None, "--out", help="results and runs (a temp folder by default); "
                                             "the same folder resumes"),
          write: bool = typer.Option(False, "--write", help="update BENCHMARKS.md with the table"),
          bench_file: Path = typer.Option(Path("BENCHMARKS.md"), "--bench-file"),
          threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default); 1 is "
                                      "steadier on a machine shared with other work"),
          as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON line"),
          video: bool = typer.Option(False, "--video", help="held-out motion briefs: one clip vs best-of-N "
                                     "vs the loop, judged by the detector tracking shapes over the frames"),
          video_model: str = typer.Option("local:shapes-video", "--video-model", help="with --video")):
    """Single shot vs best-of-N vs the agent loop (with and without edits) on the held-out shapes suite,
    the delivered images judged by judge:shapes, a checker built apart from the loop's critic."""
    import tempfile
    import time
    from dataclasses import asdict

    from agent.surfaces import bench as b
    from agent.core import registry

    if video:
        return _bench_video(limit=limit, budget=budget, strategies=strategies, video_model=video_model,
                            judge=judge or DEFAULT_CRITIC, seed=seed, out=out, write=write, bench_file=bench_file,
                            threads=threads, as_json=as_json)

    keys = [k.strip() for k in strategies.split(",") if k.strip()] if strategies else b.BASE_STRATEGIES + b.LAYOUT_STRATEGIES
    for spec_ in llm or []:
        prefix, model = registry.split(spec_)
        if prefix not in ("openai-compatible", "openai", "anthropic", "scripted") or not model:
            fail(f"--llm takes a director such as openai-compatible:MODEL@URL, not {spec_!r}")
        keys.append(f"agent[{spec_}]")
    for k in keys:
        try:
            b.strategy_fn(k)
        except ValueError as e:
            fail(str(e))
    judge = judge or b.DEFAULT_JUDGE
    items = b.suite(quick=quick, per_category=per_category, limit=limit, offset=offset)
    if not items:
        fail("no prompts selected")
    parts = ["atelier bench"] + (["--quick"] if quick else []) + \
        [f"{flag} {value}" for flag, value, default in [
            ("--limit", limit, None), ("--offset", offset, 0), ("--per-category", per_category, None),
            ("--budget", budget, 4), ("--strategies", strategies, None), ("--image-model", image_model, DEFAULT_IMAGE_MODEL),
            ("--critic", critic, DEFAULT_CRITIC), ("--judge", judge, b.DEFAULT_JUDGE), ("--seed", seed, 0),
            ("--threads", threads, 0)]
         if value != default] + \
        [f"--llm {s}" for s in llm or []]
    command = " ".join(parts)
    name = "quick" if quick and per_category is None and limit is None else \
        "-".join(f"{k}-{v}" for k, v in [("per-category", per_category), ("limit", limit)] if v is not None) or "full"
    if offset:
        name += f"-from-{offset}"
    name += "-llm" if llm else ""
    out = out or Path(tempfile.mkdtemp(prefix="atelier-bench-"))
    err.print(f"{len(items)} prompts × {len(keys)} strategies, budget {budget}; results in {out / 'results.jsonl'}",
              highlight=False)
    show_row = _progress(len(items) * len(keys), lambda r: f"{b.label(r.strategy):<26} {r.category:<13} "
                                                     f"{r.images} img {r.wall:5.2f} s  {r.prompt}")

    if threads:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    t0 = time.perf_counter()
    try:
        rows = b.run_bench(items, strategies=keys, budget=budget, image_model=image_model, critic=critic,
                           judge=judge, out=out, seed=seed, on_row=show_row)
    except AtelierError as e:
        fail(str(e))
    seconds = time.perf_counter() - t0
    summaries = b.summarise(rows)
    summaries.sort(key=lambda s: keys.index(s.strategy))
    b.print_table(summaries, budget, console=err if as_json else None, judge=judge)
    if per_prompt:
        (err.print if as_json else print)("\n".join(b.per_prompt_lines(rows)))
    for key in ("loop", "loop_edits"):
        if (d := b.diagnose(rows, key)):
            err.print(f"[dim]{b.label(key)}: {json.dumps(d)}[/]", highlight=False, soft_wrap=True)
    if write:
        section = b.report_section(name, summaries, rows, budget=budget, command=command,
                                   image_model=image_model, judge=judge, critic=critic, seconds=seconds)
        b.write_report(bench_file, name, section)
        err.print(f"wrote the table to {bench_file}", highlight=False)
    if as_json:
        print(json.dumps({"command": command, "results": str(out / "results.jsonl"), "seconds": round(seconds, 1),
                          "strategies": [asdict(s) for s in summaries]}))


def _progress(total: int, describe):
    """A bench row printer: "[k/total] ✓ <describe(row)>", the row's error in red."""
    count = [0]

    def show_row(r) -> None:
        count[0] += 1
        mark = "[green]✓[/]" if r.correct else "[red]✗[/]"
        err.print(f"[dim][{count[0]}/{total}][/] {mark} {describe(r)}" + (f"  [red]{r.error}[/]" if r.error else ""),
                  highlight=False, soft_wrap=True)
    return show_row


def _bench_video(*, limit, budget, strategies, video_model, judge, seed, out, write, bench_file, threads, as_json):
    import tempfile
    import time

    from agent.surfaces import bench_video as bv

    keys = [k.strip() for k in strategies.split(",") if k.strip()] if strategies else bv.STRATEGIES
    if bad := [k for k in keys if k not in bv.STRATEGIES]:
        fail(f"unknown video strategy {bad[0]!r}; known: {', '.join(bv.STRATEGIES)}")
    items = bv.video_suite(limit=limit)
    parts = ["atelier bench --video"] + [f"{flag} {value}" for flag, value, default in [
        ("--limit", limit, None), ("--budget", budget, 4), ("--strategies", strategies, None),
        ("--video-model", video_model, "local:shapes-video"), ("--judge", judge, DEFAULT_CRITIC),
        ("--seed", seed, 0), ("--threads", threads, 0)] if value != default]
    command = " ".join(parts)
    out = out or Path(tempfile.mkdtemp(prefix="atelier-bench-video-"))
    err.print(f"{len(items)} motion briefs × {len(keys)} strategies, budget {budget} clips; results in "
              f"{out / 'video_results.jsonl'}", highlight=False)
    if threads:
        import torch
        torch.set_num_threads(threads)
    show_row = _progress(len(items) * len(keys), lambda r: f"{bv.LABELS[r.strategy]:<30} {r.clips} clip(s) "
                                                     f"{r.wall:5.1f} s  {r.prompt}")

    t0 = time.perf_counter()
    try:
        rows = bv.run_video_bench(items, strategies=keys, budget=budget, video_model=video_model, judge=judge,
                                  out=out, seed=seed, on_row=show_row)
    except AtelierError as e:
        fail(str(e))
    seconds = time.perf_counter() - t0
    summaries = bv.summary(rows)
    err.print(bv.markdown(summaries), highlight=False)
    if write:
        from agent.surfaces.bench import write_report
        name = "video" + (f"-limit-{limit}" if limit else "")
        write_report(bench_file, name, bv.report_section(name, summaries, rows, budget=budget, command=command,
                                                         video_model=video_model, judge=judge, seconds=seconds))
        err.print(f"wrote the table to {bench_file}", highlight=False)
    if as_json:
        print(json.dumps({"command": command, "results": str(out / "video_results.jsonl"),
                          "seconds": round(seconds, 1), "strategies": summaries}))


@app.command()
def ui(host: str = typer.Option(None, help="default: $GRADIO_SERVER_NAME, else 127.0.0.1"),
       port: int = typer.Option(None, help="default: $GRADIO_SERVER_PORT, else 7860"),
       share: bool = typer.Option(False, help="make a public Gradio link (use with --auth)"),
       auth: Optional[str] = typer.Option(None, help="USER:PASSWORD[,USER2:PASSWORD2] (or $ATELIER_UI_AUTH)"),
       runs: Path = typer.Option(Path("runs"), "--runs", help="runs folder"),
       max_runs: int = typer.Option(4, "--max-runs", min=1, help="runs at once across all sessions"),
       single_user: bool = typer.Option(False, "--single-user", help="History may show every run in the folder")):
    """The chat UI (same as `python app.py`)."""
    from agent.surfaces import ui as ui_app
    ui_app.main(host=host, port=port, share=share, auth=auth, runs_dir=runs, max_runs=max_runs,
                single_user=single_user)


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
    for row in list_models():
        where = row["path"] or f"atelier models pull {row['name']}  (or set {row['env']}=/path)"
        table.add_row(row["name"], row["kind"], "[green]present[/]" if row["present"] else "[dim]absent[/]", where)
    Console().print(table)


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
