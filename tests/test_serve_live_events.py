"""A served run's events (agent/surfaces/server/hub.py LiveRun): a follower that is there all along sees the
run's step progress as it goes, not only the first step; the numbers it gets as SSE ids keep rising when a
step's progress replaces the one before, so a reconnect with Last-Event-ID resumes after what it saw."""
from __future__ import annotations

import asyncio
import threading
import time

from agent.core.types import Event
from agent.surfaces.server import hub as hub_module
from agent.surfaces.server.hub import LiveRun


def _progress(step: int) -> Event:
    return Event(type="progress", run_id="r", message="", data={"step": step, "total": 10})


def _follow(live: LiveRun, start: int = 0) -> list[tuple[int, str]]:
    async def main():
        live._loop = asyncio.get_running_loop()
        seen = []

        def produce():
            for step in range(1, 11):
                live.add(_progress(step))
                time.sleep(0.03)
            live.add(Event(type="attempt_made", run_id="r", message="made"))
            live.finish({"status": "approved"})

        producer = threading.Thread(target=produce)
        producer.start()
        async for number, kind, _ in live.follow(start):
            seen.append((number, kind))
        producer.join()
        return seen
    return asyncio.run(asyncio.wait_for(main(), 20))


def test_a_follower_sees_the_steps_as_they_go_and_the_numbers_keep_rising(monkeypatch):
    monkeypatch.setattr(hub_module, "PROGRESS_EVERY_S", 0.0)
    seen = _follow(LiveRun("r", "me", None))
    kinds = [k for _, k in seen]
    assert kinds.count("progress") >= 8 and kinds[-1] == "attempt_made"  # was 1: only the first step
    numbers = [n for n, _ in seen]
    assert numbers == sorted(set(numbers)) and numbers[-1] == 10


def test_progress_wakes_followers_at_most_every_so_often_and_the_last_step_still_arrives(monkeypatch):
    monkeypatch.setattr(hub_module, "PROGRESS_EVERY_S", 0.1)
    live = LiveRun("r", "me", None)
    seen = _follow(live)
    assert 2 <= [k for _, k in seen].count("progress") <= 6
    assert seen[-2][1] == "progress" and seen[-2][0] == 9  # step 10, kept, read when the attempt woke them
    # only the latest step is kept in memory; a reconnect after number 3 gets what came later
    assert [(n, k) for n, k, _ in live.events] == [(9, "progress"), (10, "attempt_made")]

    async def resumed():
        return [(n, k) async for n, k, _ in live.follow(4)]
    assert asyncio.run(resumed()) == [(9, "progress"), (10, "attempt_made")]


def test_a_resumed_run_numbers_its_events_after_its_first_stretch():
    first = LiveRun("r", "me", None)
    for step in (1, 2):
        first.add(_progress(step))
    first.add(Event(type="run_finished", run_id="r", message="interrupted"))
    again = LiveRun("r", "me", None, first.next_number)
    again.add(Event(type="run_started", run_id="r", message="resumed"))
    assert [n for n, _, _ in again.events] == [first.next_number]  # a Last-Event-ID from before still points back
