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
    want = (f"; the torchvision installed does not load beside torch {torch.__version__} (RuntimeError: operator "
            f"torchvision::nms does not exist): install the torchvision build made for this torch, or uninstall it")
    # transformers then imports no model at all: any family's load error names it, Qwen-Image-Edit's included
    for sub in ("processor", "text_encoder"):
        (tmp_path / sub / sub).mkdir(parents=True)
        assert missing_library(str(tmp_path / sub)) == want, sub


def test_a_folder_without_a_processor_needs_no_torchvision(tmp_path):
    """No hint where torchvision is absent (or loads) and nothing in the folder needs it."""
    from local_models.diffusers_base import missing_library

    (tmp_path / "tokenizer").mkdir()
    assert missing_library(str(tmp_path)) == ""
