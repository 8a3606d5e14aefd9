"""The default run (`python -m pytest -q`, the README's command) leaves out the slow, Ray and
browser tests; `-m` brings them back (as .ci/run does)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collected(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "tests/test_batch.py", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_optional_tests_are_left_out_by_default_and_run_when_asked():
    default = collected()
    assert "test_ray_executor_same_output_and_resume" not in default
    assert "test_batch.py::" in default
    assert "test_ray_executor_same_output_and_resume" in collected("-m", "slow or ray or browser")
