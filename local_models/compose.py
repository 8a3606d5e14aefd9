"""Layout-first composition on a model that inpaints: the whole picture, then each group of boxes
repainted with its own words."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from PIL import Image

from agent.core.artifacts import save_image
from agent.core.progress import offset, step_hook
from agent.core.types import Artifact, GenerationRequest
from local_models import inpainting


class Composer:
    """The layout flow of DiffusersBackend (it sets check_inputs, load, owner and batch_key)."""

    def _compose(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        """Layout first on a model that inpaints: the whole picture from the prompt with the layout
        in words, then each kind-and-colour group repainted in its boxes with its own words, the
        rest kept exactly (as LMD and GenArtist do). Every pass is counted in `denoiser_steps`."""
        start = time.perf_counter()
        words = request.layout.words()
        base = request.model_copy(update={"layout": None, "prompt": f"{request.prompt}; {words}"})
        inputs = self.check_inputs(base, "text2img")
        layout = request.layout.scaled(inputs.width, inputs.height)
        loaded = self.load()
        groups, hook = layout.groups(), step_hook()
        total = inputs.steps * (1 + len(groups) * base.n)  # the steps of every pass, in the order they run
        inputs.hook = offset(hook, 0, total)
        images, scheduler = self.owner(loaded).submit(self.batch_key(base, inputs), (self, base, inputs, loaded),
                                                      size=base.n)
        painted_all, crops = Image.new("L", (inputs.width, inputs.height), 0), []
        for g, group in enumerate(groups):
            mask = Image.new("L", (inputs.width, inputs.height), 0)
            for b in group:
                mask.paste(255, grow_box(b.box, inputs.width, inputs.height))
            painted_all.paste(255, mask=mask)
            for i, image in enumerate(images):
                one = base.model_copy(update={"prompt": f"{group[0].describe()}, {request.prompt}",
                                              "seed": base.seed + i, "n": 1})
                region = inpainting.prepare(dataclasses.replace(inputs, task="inpaint", source=image, mask=mask,
                                                                strength=1.0), request.extra, self.crops_masks())
                crops.append(region.crop)
                region.hook = offset(hook, inputs.steps * (1 + g * base.n + i), total)
                # painted back through the blurred mask: outside it, the first pass exactly
                (images[i],), _ = self.owner(loaded).submit(self.batch_key(one, region), (self, one, region, loaded))
        seconds = (time.perf_counter() - start) / len(images)
        meta = {"task": "layout", "device": loaded.device.type, "scheduler": scheduler, "batch_seed": request.seed,
                "denoiser_steps": inputs.steps * (1 + len(groups)),
                **inpainting.edit_meta(painted_all, region.blur if groups else 0, crops)}
        return [save_image(image, out_dir, request.model_copy(update={
                    "seed": request.seed + i, "n": 1, "width": image.width, "height": image.height,
                    "steps": inputs.steps, "guidance": inputs.guidance, "layout": layout}),
                    index=i, seconds=seconds, meta=meta)
                for i, image in enumerate(images)]


def grow_box(box, width: int, height: int, by: float = 0.1) -> tuple[int, int, int, int]:
    """A layout box with a margin, so the object's edges blend into what is around it."""
    x0, y0, x1, y1 = box
    dx, dy = int((x1 - x0) * by), int((y1 - y0) * by)
    return max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)
