"""Ctrl-C on the command line: the first one asks every run in flight to stop after its current step
(the record is saved with every attempt made, status `stopped`); a second one quits at once.

Why not let KeyboardInterrupt fly: it lands in whatever the main thread is doing, usually waiting
for a pipeline's owner thread (agent.core.registry, local_models.owner) that is inside a torch call;
the interpreter then exits under that running thread and the C++ runtime aborts the process
("terminate called without an active exception", exit 134), leaving run.json `running`. A flag the
director reads between steps lets the step finish and the run end the ordinary way."""
from __future__ import annotations

import os
import signal
import threading


class Interrupts:
    """`with Interrupts() as stops: stops.watch(studio)`: SIGINT stops the watched studios' runs."""

    def __init__(self) -> None:
        self.count = 0
        self.studios: list = []
        self._previous = None

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def watch(self, studio) -> None:
        self.studios.append(studio)
        if self.count:
            studio.stop_all()

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1:
            os.write(2, b"stopping after the current step (Ctrl-C again to quit at once)\n")
            for studio in self.studios:
                studio.stop_all()
            return
        os.write(2, b"error: interrupted twice: quit at once; the run keeps the steps saved so far "
                    b"(continue it with atelier run --resume RUN_ID)\n")
        os._exit(130)

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
