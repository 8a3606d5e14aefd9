"""The offline parser measured on GenEval: exact match of `parse_spec` against GenEval's own specs.

    python -m agent.core.spec_geneval --geneval ../shared/benchmarks/geneval/evaluation_metadata.jsonl
    python -m agent.core.spec_geneval "a photo of two red circles"   # the spec, in GenEval's fields
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from agent.core.spec_parser import parse_spec
from agent.core.types import SceneSpec


# ---- measurement on GenEval -------------------------------------------------------------------
def normalise(spec: SceneSpec | dict | None) -> dict | None:
    """GenEval JSON with lists for tuples, for exact comparison."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        spec = SceneSpec.model_validate({"include": spec.get("include", []), "exclude": spec.get("exclude", [])})
    # GenEval's own fields only: its rows carry no background, minimum, size or "only"
    data = spec.model_dump(by_alias=True, exclude_none=True, include={"include", "exclude"})
    for obj in data["include"] + data["exclude"]:
        obj.pop("at_least", None)
        obj.pop("size", None)
    return json.loads(json.dumps(data))


def evaluate(metadata: Path) -> tuple[dict[str, tuple[int, int]], list[tuple[dict, dict | None]]]:
    """Per tag (matches, total), and the mismatched rows with what the parser gave."""
    per_tag: dict[str, Counter] = {}
    misses = []
    for line in Path(metadata).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        got = normalise(parse_spec(row["prompt"]))
        ok = got == normalise(row)
        per_tag.setdefault(row["tag"], Counter())[ok] += 1
        if not ok:
            misses.append((row, got))
    return {tag: (c[True], c[True] + c[False]) for tag, c in per_tag.items()}, misses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m agent.core.spec_geneval", description=__doc__.split("\n")[0])
    ap.add_argument("--geneval", type=Path, help="GenEval evaluation_metadata.jsonl: measure exact match")
    ap.add_argument("text", nargs="*", help="parse this text and print the spec")
    args = ap.parse_args(argv)
    if args.text:
        print(json.dumps(normalise(parse_spec(" ".join(args.text)))))
    if not args.geneval:
        return 0
    per_tag, misses = evaluate(args.geneval)
    hits, total = sum(h for h, _ in per_tag.values()), sum(n for _, n in per_tag.values())
    print(f"exact match: {hits}/{total} = {100 * hits / total:.1f}%")
    for tag, (h, n) in per_tag.items():
        print(f"  {tag:<14} {h}/{n} = {100 * h / n:.1f}%")
    for row, got in misses:
        print(f"MISMATCH {row['prompt']!r}\n  expected {json.dumps(normalise(row))}\n  got      {json.dumps(got)}")
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
