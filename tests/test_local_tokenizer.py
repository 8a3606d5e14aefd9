"""CogVideoX's repo ships its T5 tokenizer as `tokenizer/spiece.model` alone: loading it needs
sentencepiece (without it transformers says "tiktoken is required to read a tiktoken file"), and
sentencepiece is in the `local` extra. A spiece.model trained here stands for the real one."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest


def test_sentencepiece_is_in_the_local_extra():
    extra = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["local"]
    assert any(dep.split(">")[0].split("=")[0] == "sentencepiece" for dep in extra)


def test_a_t5_tokenizer_loads_from_spiece_model_only(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    from transformers import AutoTokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"a red ball rolls across the floor {i} times, then a blue cube follows"
                                for i in range(200)))
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "spiece"), vocab_size=60,
                                   pad_id=0, eos_id=1, unk_id=2, bos_id=-1, model_type="unigram")
    (folder / "spiece.vocab").unlink()  # the repo has the model file only
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "T5Tokenizer", "extra_ids": 0}')
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    ids = tokenizer("a red ball").input_ids
    assert ids[-1] == tokenizer.eos_token_id == 1 and len(ids) > 2
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a red ball"
