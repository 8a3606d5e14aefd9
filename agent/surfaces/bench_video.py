"""`atelier bench --video`: held-out motion briefs, one clip vs the critic-driven loop, judged by the
embedded critic (`critic:detector`, which tracks every shape across the frames), or with `--judge
judge:shapes-video` by a judge written apart from it (local_models/shapes/video_judge.py; the loop
keeps critic:detector).

The suite is `local_models.shapes.motion.heldout_motion_prompts()`: motion briefs whose objects-and-
motions combination training never showed, half with one object and half with two; then the
"start/end places" briefs (`local_models.shapes.place_briefs`: one held-out object going from a
place to another, "from the left edge to the centre", "ending in the top right corner"). Every
strategy gets the same seeds (prompt i: seed + 100 i) and the same budget of clips."""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from agent.core import registry
from agent.surfaces.bench import NULL_CRITIC, BriefRow, _register_null_critic, _slug, machine

from agent.surfaces.bench_keys import VIDEO_STRATEGIES as STRATEGIES  # noqa: E402
LABELS = {"single": "one clip", "best_of_n": "best-of-N clips (critic picks)", "loop": "agent loop (offline planner)"}
from agent.core.defaults import DEFAULT_VIDEO_MODEL  # noqa: E402
LOOP_CRITIC = "critic:detector"


@dataclass
class VideoItem:
    index: int
    category: str  # one of CATEGORIES
    prompt: str
    spec: object


CATEGORIES = ("one object", "two objects", "start/end places")


def video_suite(n: int = 60, limit: int | None = None, places: int = 20) -> list[VideoItem]:
    """`n` motion briefs and `places` start/end place briefs, the categories interleaved so that any
    prefix (`limit`) is balanced."""
    from local_models.shapes.motion import heldout_motion_prompts
    from local_models.shapes.place_briefs import heldout_place_prompts
    items = [VideoItem(i, "one object" if len(spec.include) == 1 else "two objects", prompt, spec)
             for i, (prompt, spec) in enumerate(heldout_motion_prompts(n))]
    items += [VideoItem(n + i, "start/end places", prompt, spec)
              for i, (prompt, spec) in enumerate(heldout_place_prompts(places) if places else ())]
    queues = [[i for i in items if i.category == c] for c in CATEGORIES]
    order = [q[k] for k in range(max(map(len, queues))) for q in queues if k < len(q)]
    return order[:limit] if limit is not None else order


@dataclass
class VideoRow(BriefRow):
    clips: int = 0
    first_frames: int = 0  # stills drawn to animate (a video model that animates a source image)
    frames: int = 0  # frames of the best clip
    wall: float = 0.0
    model: float = 0.0  # seconds inside the video back end
    status: str = ""
    error: str | None = None
    final: list[str] = field(default_factory=list)  # the judge's issues with the best clip
    trace: list[dict] = field(default_factory=list)


def _studio(cache: dict, key: str, runs: Path, video_model: str, judge: str, **kw):
    from agent.surfaces.api import Studio
    if key not in cache:
        cache[key] = Studio(critic=kw.pop("critic", judge), mode="loop", video_model=video_model,
                            runs_dir=runs / _slug(key), **kw)
    return cache[key]


def run_strategy(key: str, item: VideoItem, seed: int, budget: int, studio_for: Callable, steps_per_clip: int = 1):
    """`steps_per_clip`: rounds and generations one clip takes: 2 for a video model that animates a
    source image (its first frame is drawn and judged first: ModelInfo.clip_from "image"), else 1."""
    k = steps_per_clip
    if key == "single":
        return studio_for(key, critic=NULL_CRITIC).run(item.prompt, spec=item.spec, seed=seed,
                                                       budget={"max_iterations": k, "max_generations": k})
    if key == "best_of_n":  # N first frames, the critic's pick animated
        return studio_for(key).run(item.prompt, spec=item.spec, seed=seed, candidates=budget,
                                   budget={"max_iterations": k, "max_generations": budget + k - 1})
    if key == "loop":
        return studio_for(key).run(item.prompt, spec=item.spec, seed=seed,
                                   budget={"max_iterations": k * budget, "max_generations": k * budget})
    raise ValueError(f"unknown video strategy {key!r}; known: {', '.join(STRATEGIES)}")


class _Clock:
    def __init__(self, backend):
        self.seconds, self.backend, self.fn = 0.0, backend, backend.generate

    def __enter__(self):
        def timed(request, out_dir):
            t0 = time.perf_counter()
            try:
                return self.fn(request, out_dir)
            finally:
                self.seconds += time.perf_counter() - t0
        self.backend.generate = timed
        return self

    def __exit__(self, *exc):
        del self.backend.generate


def run_video_bench(items: list[VideoItem], *, strategies=STRATEGIES, budget: int = 4,
                    video_model: str = DEFAULT_VIDEO_MODEL, judge: str = "critic:detector", out: Path,
                    seed: int = 0, on_row: Callable[[VideoRow], None] | None = None) -> list[VideoRow]:
    """Every strategy on every item; rows already in `out/video_results.jsonl` for the same config are kept."""
    _register_null_critic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "video_results.jsonl"
    config = {"budget": budget, "video_model": video_model, "judge": judge, "seed": seed}
    done = {}
    if results.is_file():
        for line in results.read_text().splitlines():
            d = json.loads(line)
            if d.pop("config") == config:
                done[(d["strategy"], d["index"])] = VideoRow(**d)
    from local_models.shapes import video_judge
    backend, cache = registry.resolve("video", video_model), {}
    # the clip judge written apart from the loop's critic judges only: the loop keeps critic:detector
    judge_critic = video_judge.VideoJudge() if judge == video_judge.NAME else registry.resolve("critic", judge)
    loop_critic = LOOP_CRITIC if judge == video_judge.NAME else judge

    def studio_for(key, **kw):
        return _studio(cache, key, out / "runs", video_model, loop_critic, **kw)

    with _Clock(backend) as clock, results.open("a") as f:
        for item in items:
            for key in strategies:
                if (key, item.index) in done:
                    continue
                row = one_row(key, item, seed + 100 * item.index, budget, studio_for, clock, judge_critic,
                              2 if backend.info.clip_from == "image" else 1)
                f.write(json.dumps({"config": config, **asdict(row)}) + "\n")
                f.flush()
                done[(key, item.index)] = row
                if on_row:
                    on_row(row)
    return [done[(k, it.index)] for it in items for k in strategies if (k, it.index) in done]


def one_row(key, item, seed, budget, studio_for, clock, judge, steps_per_clip: int = 1) -> VideoRow:
    row = VideoRow(key, item.index, item.category, item.prompt, seed, budget)
    clock.seconds = 0.0
    t0 = time.perf_counter()
    try:
        record = run_strategy(key, item, seed, budget, studio_for, steps_per_clip).record
    except Exception as e:  # a strategy that cannot run counts as wrong, with the reason kept
        row.wall, row.status, row.error = time.perf_counter() - t0, "failed", str(e)[:300]
        return row
    row.wall, row.model = time.perf_counter() - t0, clock.seconds
    clips = [a for a in record.attempts if a.artifact.kind == "video"]  # a first frame is no clip
    row.clips, row.approved, row.status, row.error = len(clips), record.approved, record.status, record.error
    row.first_frames = len(record.attempts) - len(clips)
    row.trace = [{"ok": bool(a.verdict and a.verdict.approved), "frames": a.artifact.request.num_frames,
                  "guidance": a.artifact.request.guidance,
                  "kinds": [f.kind for f in a.verdict.findings] if a.verdict else []} for a in record.attempts]
    best = record.best or (record.attempts[0] if record.attempts else None)
    if best is not None:
        v = best.verdict
        if not (v and v.critic == judge.name):
            v = judge.critique(best.artifact, item.prompt, item.spec)
        row.correct, row.frames = bool(v.approved), best.artifact.request.num_frames or 0
        row.final = ["critic error: " + v.error[:100]] if v.error else list(v.issues)[:3]
    return row


def summary(rows: list[VideoRow]) -> list[dict]:
    out = []
    for key in dict.fromkeys(r.strategy for r in rows):
        rs = [r for r in rows if r.strategy == key]
        n, clips = len(rs), sum(r.clips for r in rs)
        cats = {c: (sum(r.correct for r in rs if r.category == c), sum(r.category == c for r in rs))
                for c in CATEGORIES}
        out.append({"strategy": key, "n": n, "accuracy": sum(r.correct for r in rs) / n, "per_category": cats,
                    "clips": clips / n, "s_per_clip": sum(r.model for r in rs) / clips if clips else 0.0,
                    "wall": sum(r.wall for r in rs) / n, "failed": sum(r.status == "failed" for r in rs)})
    return out


def markdown(summaries: list[dict]) -> str:
    cats = [c for c in CATEGORIES if any(s["per_category"].get(c, (0, 0))[1] for s in summaries)]
    head = ["strategy", "overall", *cats, "clips/prompt", "s/clip (model)", "s/prompt"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for s in summaries:
        cells = [LABELS.get(s["strategy"], s["strategy"]), f"{100 * s['accuracy']:.1f}% ({s['n']})"]
        for c in cats:
            ok, n = s["per_category"].get(c, (0, 0))
            cells.append(f"{100 * ok / n:.0f}% ({ok}/{n})" if n else "-")
        cells += [f"{s['clips']:.2f}", f"{s['s_per_clip']:.2f}", f"{s['wall']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_section(name: str, summaries: list[dict], rows: list[VideoRow], *, budget: int, command: str,
                   video_model: str, judge: str, seconds: float) -> str:
    m = machine()
    n = len({r.index for r in rows})
    unsolved = Counter(i.split(":")[0][:60] for r in rows if r.strategy == "loop" and not r.correct for i in r.final)
    lines = [f"<!-- bench:{name} -->", f"### `{command}`", "",
             f"{n} held-out motion briefs, budget {budget} clips per brief, video model `{video_model}`, "
             f"judged by `{judge}` (every shape tracked over every frame).", "", markdown(summaries), "",
             f"- machine: {m['cpu']}; {m['software']}; load average at the end {m['load']}",
             f"- commit {m['commit']}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{seconds / 60:.1f} min for this invocation",
             "- accuracy = the judge approves the run's best clip; s/clip = seconds inside the video back end "
             "per clip (8 frames, 20 steps, 64x64, this CPU)."]
    if unsolved:
        lines.append(f"- the loop's unsolved briefs, by the judge's first issue: {json.dumps(dict(unsolved.most_common(8)))}")
    lines.append(f"<!-- /bench:{name} -->")
    return "\n".join(lines)
