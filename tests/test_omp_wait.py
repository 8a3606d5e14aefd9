"""OpenMP's wait policy for the local back ends: passive unless the operator chose one (it must be
set before torch loads libgomp, so importing any back end module sets it)."""
import os
import subprocess
import sys

CODE = ("import os, sys, local_models.shapes.backend; "
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")


def _run(env: dict) -> str:
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_a_back_end_sets_a_passive_wait_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _run(env) == "PASSIVE False"


def test_the_operators_wait_policy_is_kept():
    assert _run({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE False"
