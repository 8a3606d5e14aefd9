"""The `atelier` command's quick exit once torch is loaded (agent/surfaces/cli_exit.py): nothing a
normal exit keeps is lost (exit code, printed lines, a file left open, atexit handlers, a thread
still working), and without torch the ordinary exit runs."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import atexit, sys, threading, time, types
    from concurrent.futures import ThreadPoolExecutor
    import typer
    from agent.surfaces.cli_exit import AtelierTyper
    if sys.argv[1] == "torch":
        sys.modules.setdefault("torch", types.ModuleType("torch"))  # what the quick exit looks for
    app = AtelierTyper(add_completion=False)
    log = open(sys.argv[2], "w")  # never closed: its buffer must still reach the disk
    pool = ThreadPoolExecutor(2)  # never shut down, as `atelier serve` keeps its briefs' pool

    @app.command()
    def go(code: int = 0):
        atexit.register(lambda: print("atexit ran", flush=True))
        def late():
            time.sleep(0.3)
            log.write("thread finished\\n")
        threading.Thread(target=late).start()
        pool.submit(log.write, "pool ran\\n").result()  # its idle worker must not keep the process alive
        log.write("left open\\n")
        print("last line")  # stdout is a pipe: block-buffered
        if code:
            raise typer.Exit(code)

    app(sys.argv[3:])
""")


def _run(tmp_path, mode, *args):
    log = tmp_path / f"{mode}.log"
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(log), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    return done, log.read_text()


def test_quick_exit_keeps_the_code_the_output_the_files_and_the_handlers(tmp_path):
    for mode in ("torch", "plain"):
        done, log = _run(tmp_path, mode, "--code", "3")
        assert done.returncode == 3, (mode, done.stderr)
        assert done.stdout.splitlines() == ["last line", "atexit ran"], mode
        assert log.splitlines() == ["pool ran", "left open", "thread finished"], mode
        done, _ = _run(tmp_path, mode)
        assert done.returncode == 0 and "last line" in done.stdout


def test_usage_errors_keep_their_exit_code(tmp_path):
    done, _ = _run(tmp_path, "torch", "--no-such-flag")
    assert done.returncode == 2 and "No such option" in done.stderr
