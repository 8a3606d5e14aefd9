"""Qwen2-VL's processor for pictures only, for Qwen-Image-Edit where no torchvision loads.

Qwen2VLProcessor insists on a video processor, and transformers builds every video processor with
torchvision; a machine with CPU-only torch and PyPI's torchvision (built for CUDA torch) cannot load
one. QwenImageEditPipeline gives its processor text and images only, so this processor is
Qwen2VLProcessor without the video half: the same tokenizer, and transformers' own PIL image processor
(`Qwen2VLImageProcessorPil`, what transformers itself falls back to without torchvision), read from the
repository's `processor/` folder. Where torchvision loads, the folder's processor loads as it is."""
from __future__ import annotations

from pathlib import Path

from transformers import Qwen2VLImageProcessorPil, Qwen2VLProcessor
from transformers.processing_utils import ProcessorMixin


class Qwen2VLImageProcessorOnly(Qwen2VLProcessor):
    """Qwen2VLProcessor with an image processor and a tokenizer, no video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", "<|image_pad|>")
        self.video_token = getattr(tokenizer, "video_token", "<|video_pad|>")
        self.image_token_id = getattr(tokenizer, "image_token_id", None) or tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = getattr(tokenizer, "video_token_id", None) or tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def load_processor(folder: Path) -> Qwen2VLImageProcessorOnly:
    """The processor of a `processor/` folder as a Qwen2VLProcessor writes it (its image processor's
    settings in processor_config.json, or in preprocessor_config.json as the hub's repositories keep
    them), without the video processor."""
    from transformers import AutoTokenizer

    return Qwen2VLImageProcessorOnly(image_processor=Qwen2VLImageProcessorPil.from_pretrained(str(folder)),
                                     tokenizer=AutoTokenizer.from_pretrained(str(folder)))
