"""Scoring an approval set (`agent.surfaces.approval_set`): a critic, or the bench's independent judge
(`judge:shapes`), against the labels people gave its images by eye.

    python -m agent.surfaces.approval_set --set approval_holdout5 --score critic:detector
    python -m agent.surfaces.approval_set --set approval_holdout5 --score judge:shapes
"""
from __future__ import annotations

from typing import Callable

JUDGE = "judge:shapes"  # the bench's judge (agent.surfaces.bench.DEFAULT_JUDGE), not a critic


def _verdicts(critic_spec: str) -> Callable:
    """(approved, issues) of an image for its brief: a critic's verdict judged from the brief alone
    (spec=None), or the judge's on the spec the brief states (an empty one when it names no object)."""
    from agent.core.types import SceneSpec
    if critic_spec == JUDGE:
        from agent.core.spec_parser import parse_spec
        from local_models.shapes.judge import judge

        def by_judge(art, brief):
            j = judge(art.path, parse_spec(brief) or SceneSpec())
            return j.right, j.reasons
        return by_judge
    from agent.core.registry import resolve
    critic = resolve("critic", critic_spec)

    def by_critic(art, brief):
        v = critic.critique(art, brief, None)
        return bool(v.approved), list(v.issues or [])
    return by_critic


def score(critic_spec: str, rows: list[dict] | None = None, name: str | None = None) -> dict:
    """A critic (or the judge) against the labels of the set NAME (default: approval_set)."""
    from agent.core.types import Artifact, GenerationRequest
    from agent.surfaces import approval_set

    name = name or approval_set.DEFAULT_SET
    verdict = _verdicts(critic_spec)
    rows = rows if rows is not None else approval_set.load(name=name)
    out = {"rows": [], "critic": critic_spec, "set": name}
    for r in rows:
        png = approval_set.set_dir(name) / r["file"]
        # a removal of the only object leaves the brief empty: what was asked is the edit's prompt
        brief = r["brief"] or r["prompt"]
        art = Artifact(path=png, sha256=Artifact.digest(png), request=GenerationRequest(prompt=brief))
        approved, issues = verdict(art, brief)
        out["rows"].append({**r, "approved": approved, "issues": issues})
    return out


def report(res: dict) -> str:
    """The figures (wrong approved, right approved; each product path apart) and every miss, one a line."""
    from agent.surfaces.approval_set import DEFAULT_SET, PATHS
    rows = res["rows"]

    def rate(sel):
        k, n = sum(r["approved"] for r in sel), len(sel)
        return f"{k} of {n} ({k / n:.1%})" if n else "0 of 0"

    lines = [f"{res['critic']} on {len(rows)} labelled images of {res.get('set', DEFAULT_SET)}",
             f"wrong approved: {rate([r for r in rows if not r['right']])}",
             f"right approved: {rate([r for r in rows if r['right']])}"]
    for p in PATHS:
        sel = [r for r in rows if r["path"] == p]
        lines.append(f"  {p:14s} wrong approved {rate([r for r in sel if not r['right']]):22s} "
                     f"right approved {rate([r for r in sel if r['right']])}")
    lines.append("false approvals:")
    lines += [f"  {r['file']} [{r['path']}] {r['brief']!r}: {r['note']}"
              for r in rows if r["approved"] and not r["right"]]
    lines.append("false rejections:")
    lines += [f"  {r['file']} [{r['path']}] {r['brief']!r}: {r['note']} | {'; '.join(r['issues'])}"
              for r in rows if not r["approved"] and r["right"]]
    return "\n".join(lines)
