"""`atelier bench`: the strategies compared on the held-out shapes suite (or, with --video, on motion
briefs), the delivered images judged by a checker built apart from the loop's critic."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_VIDEO_MODEL
from agent.core.errors import AtelierError
from agent.surfaces.bench_keys import STRATEGIES, VIDEO_STRATEGIES
from agent.surfaces.cli_common import err, fail


def bench(quick: bool = typer.Option(False, "--quick", help="a stratified subset (4 prompts per category)"),
          limit: Optional[int] = typer.Option(None, "--limit", help="only the first N prompts (stratified)"),
          offset: int = typer.Option(0, "--offset", help="skip the first N prompts (run the suite in parts)"),
          per_category: Optional[int] = typer.Option(None, "--per-category", help="the first K of each category"),
          category: Optional[list[str]] = typer.Option(None, "--category", help="only this category (repeat for "
                                                       "several), e.g. text: the briefs with words to write"),
          budget: int = typer.Option(4, "--budget", min=1, max=16, help="images per prompt, for every strategy"),
          llm: Optional[list[str]] = typer.Option(None, "--llm", help="also run an LLM director, e.g. "
                                                  "openai-compatible:MODEL@URL (repeat to compare)"),
          strategies: Optional[str] = typer.Option(None, "--strategies",
                                                   help="comma-separated, of: " + ", ".join(STRATEGIES) + "; with --video: "
                                                   + ", ".join(VIDEO_STRATEGIES)),
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
          video_model: str = typer.Option(DEFAULT_VIDEO_MODEL, "--video-model", help="with --video")):
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
    try:
        items = b.suite(quick=quick, per_category=per_category, limit=limit, offset=offset, categories=category)
    except ValueError as e:
        fail(str(e))
    if not items:
        fail("no prompts selected")
    parts = ["atelier bench"] + (["--quick"] if quick else []) + \
        [f"{flag} {value}" for flag, value, default in [
            ("--limit", limit, None), ("--offset", offset, 0), ("--per-category", per_category, None),
            ("--budget", budget, 4), ("--strategies", strategies, None), ("--image-model", image_model, DEFAULT_IMAGE_MODEL),
            ("--critic", critic, DEFAULT_CRITIC), ("--judge", judge, b.DEFAULT_JUDGE), ("--seed", seed, 0),
            ("--threads", threads, 0)]
         if value != default] + \
        [f"--category {c}" for c in category or []] + [f"--llm {s}" for s in llm or []]
    command = " ".join(parts)
    name = "quick" if quick and per_category is None and limit is None else \
        "-".join(f"{k}-{v}" for k, v in [("per-category", per_category), ("limit", limit)] if v is not None) or "full"
    if category:
        name = "-".join(category) + ("" if name == "full" else f"-{name}")
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
        ("--video-model", video_model, DEFAULT_VIDEO_MODEL), ("--judge", judge, DEFAULT_CRITIC),
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
