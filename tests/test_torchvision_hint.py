"""The load error of a Qwen-Image-Edit folder names what is wrong with torchvision: not installed, or
installed for another torch (PyPI's torchvision beside a CPU-only torch fails to import with
'operator torchvision::nms does not exist')."""
from __future__ import annotations

import sys

import pytest

pytest.importorskip("torch")


def test_a_torchvision_for_another_torch_is_named(tmp_path, monkeypatch):
    if "torchvision" in sys.modules:
        pytest.skip("a torchvision is already imported in this process")
    import torch

    from local_models.diffusers_base import missing_library

    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise RuntimeError("\\noperator torchvision::nms does not exist")\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "model" / "processor").mkdir(parents=True)
    hint = missing_library(str(tmp_path / "model"))
    assert hint == (f"; its Qwen2-VL processor needs torchvision, and the one installed does not load beside torch "
                    f"{torch.__version__} (RuntimeError: operator torchvision::nms does not exist): install the "
                    f"torchvision build made for this torch")


def test_a_folder_without_a_processor_needs_no_torchvision(tmp_path):
    from local_models.diffusers_base import missing_library

    (tmp_path / "tokenizer").mkdir()
    assert missing_library(str(tmp_path)) == ""
