"""The `atelier` command ends without tearing the interpreter down once torch is loaded.

After a command that loaded torch and a pipeline, Python's own exit (module teardown, freeing every
tensor and module object one by one) took 4.7-5.7 s on the shared 2-core machine at load 8 against
0.1-0.2 s for `os._exit` (a txt2img pipeline loaded and called once; issue 28), and every `atelier
run` and `atelier brief` paid it after its last line. So the command does what the interpreter's
exit does that can matter (joins the threads that are not daemons, runs the atexit handlers, flushes
every open Python file and C's stdio) and then leaves with its exit code at once. Without torch
loaded the ordinary exit is kept: it is quick then."""
from __future__ import annotations

import atexit
import gc
import io
import os
import sys
import threading

import typer


class AtelierTyper(typer.Typer):
    """typer.Typer whose call (the console script's entry) ends the process by `exit_now`."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as done:
            if "torch" not in sys.modules:
                raise
            code = done.code
            if code is not None and not isinstance(code, int):  # sys.exit("message") prints it
                print(code, file=sys.stderr)
                code = 1
            exit_now(code or 0)


def exit_now(code: int) -> None:
    """Everything of a normal exit that can lose output or work, then os._exit(code)."""
    # the interpreter's own wait: its thread-atexit hooks first (concurrent.futures wakes the idle
    # workers of a pool never shut down, as `atelier serve` keeps one; joined bare, they wait forever),
    # then every thread that is not a daemon, those started meanwhile too
    threading._shutdown()
    atexit._run_exitfuncs()  # logging's flush, Ray's shutdown, ...
    buffered = (io.BufferedWriter, io.BufferedRandom, io.TextIOWrapper)
    for obj in gc.get_objects():  # a file someone left open keeps what it buffered
        if issubclass(type(obj), buffered):  # by type: an ABC check would read every object's attributes
            try:
                if not obj.closed and obj.writable():
                    obj.flush()
            except Exception:  # noqa: BLE001 - a broken pipe or a detached buffer: nothing to keep
                pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    try:
        import ctypes
        ctypes.CDLL(None).fflush(None)  # what C libraries printed
    except Exception:  # noqa: BLE001
        pass
    os._exit(code)
