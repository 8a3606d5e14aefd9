"""The clip set as users get clips (agent/surfaces/clip_set.py): its briefs are none the bench runs, and
once labelled, the clip critic is held to the labels."""
from __future__ import annotations

import pytest

from agent.surfaces import clip_set


def test_the_clip_sets_briefs_are_none_of_the_benchs():
    from agent.surfaces.bench_video import video_suite
    bench = {item.prompt for item in video_suite()}
    mine = [prompt for prompt, _ in clip_set.briefs(64)]
    assert len(mine) == len(set(mine)) == 64
    assert not bench & set(mine)
