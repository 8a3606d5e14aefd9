"""State a local pipeline carries between calls: schedulers by name, LoRA adapters, the IP-Adapter,
ControlNets and other weights that go with a model, and ControlNet's control images."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from agent.core.artifacts import load_image
from agent.core.types import GenerationRequest
from local_models.inputs import Inputs
from local_models.memory import apply_memory
from local_models.pipeline_cache import Loaded, load_from, pipeline_class
from local_models.specs import SPECS
from local_models.weights import locate

SCHEDULERS: dict[str, tuple[str, dict]] = {
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpm++ karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


class Adapters:
    """The pipeline state of DiffusersBackend (it sets `spec` and `schedulers`)."""

    def aux_model(self, role: str, class_name: str, loaded: Loaded):
        """Weights that go with the model (a ControlNet, the refiner), loaded once beside it."""
        aux = SPECS[self.spec.aux[role]]
        if aux.name not in loaded.extras:
            model = load_from(aux, pipeline_class(class_name), loaded.dtype)
            loaded.extras[aux.name] = model.to(loaded.device) if loaded.memory < 2 else model
        return loaded.extras[aux.name]

    def control_image(self, kind: str, image: Image.Image, request: GenerationRequest) -> Image.Image:
        from local_models import control

        if request.extra.get("control_image"):
            return load_image(request.extra["control_image"]).resize(image.size)
        return control.canny(image, request.extra) if kind == "canny" else control.depth(image)

    def set_scheduler(self, pipe, name: str | None, loaded: Loaded) -> None:
        if name is None:
            pipe.scheduler = loaded.extras["scheduler:"]
            return
        key = f"scheduler:{name}"
        if key not in loaded.extras:
            cls_name, overrides = self.schedulers[name]
            loaded.extras[key] = pipeline_class(cls_name).from_config(loaded.scheduler_config, **overrides)
        pipe.scheduler = loaded.extras[key]

    def set_loras(self, pipe, loras: list[tuple[str, float]], loaded: Loaded) -> None:
        for source, _ in loras:
            if source not in loaded.loras:
                path = Path(source)
                name = f"lora{len(loaded.loras)}"
                if path.is_file():
                    pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
                else:
                    pipe.load_lora_weights(source, adapter_name=name)
                loaded.loras[source] = name
        if loras:
            pipe.enable_lora()
            pipe.set_adapters([loaded.loras[s] for s, _ in loras], adapter_weights=[w for _, w in loras])
        elif loaded.loras:
            pipe.disable_lora()

    def set_ip_adapter(self, pipe, request: GenerationRequest, inputs: Inputs, loaded: Loaded) -> None:
        """The IP-Adapter stays loaded while style requests follow each other (loading it reads the
        weights and an image encoder from disk); a request without a style image unloads it, since a
        UNet carrying it cannot run without one."""
        holder = loaded.extras.get("ip-adapter:on")
        if inputs.style is None:
            if holder is not None:
                holder.unload_ip_adapter()
                del loaded.extras["ip-adapter:on"]
                loaded.hooked = None  # the offload hooks are re-installed for the smaller component set
            return
        if holder is not pipe:
            if holder is not None:
                holder.unload_ip_adapter()
            self.load_ip_adapter(pipe, loaded)
            loaded.extras["ip-adapter:on"] = pipe
        pipe.set_ip_adapter_scale(float(request.extra.get("style_scale", 0.6)))

    def load_ip_adapter(self, pipe, loaded: Loaded) -> None:
        aux = SPECS[self.spec.aux["ip-adapter"]]
        pipe.load_ip_adapter(str(locate(aux)), subfolder=aux.options["subfolder"],
                             weight_name=aux.options["weight_name"])
        encoder = getattr(pipe, "image_encoder", None)
        if encoder is None:
            return
        encoder.to(dtype=loaded.dtype)
        if loaded.memory >= 2:
            # under CPU offload the encoder, loaded after the hooks were installed, had none and
            # stayed on the CPU while its inputs went to the GPU: install them again, encoder included
            apply_memory(pipe, loaded.memory, loaded.device)
            loaded.hooked = pipe
        else:
            encoder.to(loaded.device)

