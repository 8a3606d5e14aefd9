"""A wheel built from the project holds everything a normal (non-editable) install needs: the
prompts, the parser's vocabulary, the report template, the price list and the embedded model's
weights; and the prompts load from the installed package, not from a source checkout."""
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    # build from a copy, so the build leaves nothing in the working tree
    for name in ("pyproject.toml", "README.md", "agent", "tools", "local_models", "prompts"):
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy(path, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return next(out.glob("atelier-*.whl"))


def test_wheel_ships_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = [f"prompts/{p.name}" for p in (ROOT / "prompts").glob("*.md")]
    want += ["agent/core/data/vocabulary.yaml", "agent/surfaces/templates/report.html",
             "agent/backends/remote/prices.yaml"]
    for folder in sorted((ROOT / "local_models/shapes").glob("weights*")):
        want += [p.relative_to(ROOT).as_posix() for p in folder.rglob("*") if p.is_file()]
    assert len(want) > 10 and "prompts/system.md" in want
    missing = [w for w in want if w not in names]
    assert not missing, f"not in the wheel: {missing}"


def test_prompts_load_from_the_installed_package(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    deps = sysconfig.get_paths()["purelib"]  # pydantic etc.; -S skips this venv's editable install
    code = "import agent.core.prompts as p; text = p.load_prompt('system'); print(p.__file__); assert text"
    done = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), deps])}, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith(str(site))
