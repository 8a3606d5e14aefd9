"""What Atelier knows about each open model it can run locally: pure data, no torch, so listing
models and checking a request cost nothing. One `ModelSpec` per `local:NAME`."""
from __future__ import annotations

from dataclasses import dataclass, field

from agent.core.protocols import ModelInfo

SD_SCHEDULERS = ("dpm++", "dpm++ karras", "euler", "euler a", "ddim", "unipc")
FLOW_SCHEDULERS = ("euler",)
MAX_STEPS, MAX_GUIDANCE = 150, 50.0  # what a user may set on any family (A1111's steps slider stops at 150)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    repo: str  # Hugging Face id, or a local folder / .safetensors file
    kind: str = "image"  # image | video | aux
    sizes: tuple[tuple[int, int], ...] = ((512, 512),)  # (width, height); the first is the default
    steps: int = 25
    guidance: float = 7.5
    negative: bool = True
    text2img: bool = True
    edits: tuple[str, ...] = ()  # img2img, inpaint, instruct, controlnet-canny, controlnet-depth, ip-adapter, lora
    schedulers: tuple[str, ...] = SD_SCHEDULERS
    scheduler: str | None = None  # default; None keeps the one the weights ship with
    dtype: str = "fp16"  # on CUDA; CPU always runs fp32
    variant: str | None = None  # e.g. "fp16": the file variant to load and pull from the hub
    vram_gb: float = 4.0  # rough need without offload, fp16/bf16
    multiple: int = 8  # edit sizes are rounded to this
    max_n: int = 8
    strength: float = 0.6  # default for img2img / inpaint
    aux: dict[str, str] = field(default_factory=dict)  # role -> aux weight name (refiner, controlnet-canny, ...)
    options: dict = field(default_factory=dict)  # family-specific call defaults
    # video
    frames: int = 0  # default frame count
    max_frames: int = 0
    frame_step: int = 1  # frame counts must be frame_step * k + 1 (1: any count)
    fps: int = 8
    note: str = ""

    def info(self) -> ModelInfo:
        return ModelInfo(name=f"local:{self.name}", sizes=list(self.sizes), default_steps=self.steps,
                         default_guidance=self.guidance, supports_negative=self.negative,
                         # the user's image settings it honours (inputs.py checks a request the same way); a
                         # model distilled to run without guidance (guidance 0) has no scale to set
                         steps_range=(1, MAX_STEPS), guidance_range=(0.0, MAX_GUIDANCE) if self.guidance else None,
                         schedulers=list(self.schedulers), default_scheduler=self.scheduler,
                         max_n=self.max_n, edits=list(self.edits), vocabulary=self.note,
                         layouts="regions" if self.text2img and "inpaint" in self.edits else "words",
                         clip_from="image" if self.kind == "video" and not self.text2img else "text",
                         reports_steps=True,  # every pipeline used takes callback_on_step_end (step_progress.py)
                         mask_feather="inpaint" in self.edits)  # its inpaint blurs the mask by mask_blur (inpainting.py)


SDXL_SIZES = ((1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216), (1344, 768), (768, 1344))
FLUX_SIZES = ((1024, 1024), (1152, 896), (896, 1152), (1344, 768), (768, 1344), (768, 768), (512, 512))
SD_EDITS = ("img2img", "inpaint", "lora")
SD35_SIZES = ((1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216), (1344, 768), (768, 1344), (512, 512))
# Qwen-Image's aspect table, each side a multiple of 16 (the card's 4:3 is 1472×1140, which the pipeline
# would round down to 1136: here the exact 4:3 that fits, 1472×1104)
QWEN_SIZES = ((1328, 1328), (1664, 928), (928, 1664), (1472, 1104), (1104, 1472), (1584, 1056), (1056, 1584),
              (1024, 1024))
# the resolutions FLUX.1 Kontext was trained at (diffusers' PREFERRED_KONTEXT_RESOLUTIONS): an edit runs at the
# one nearest the source's aspect
KONTEXT_SIZES = ((1024, 1024), (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248),
                 (880, 1184), (944, 1104), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752),
                 (1456, 720), (1504, 688), (1568, 672))
WAN_SIZES = ((1280, 720), (720, 1280), (832, 480), (480, 832))

SPECS: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec("sd-turbo", "stabilityai/sd-turbo", steps=1, guidance=0.0, negative=False, variant="fp16",
              edits=SD_EDITS + ("controlnet-canny", "controlnet-depth"), strength=0.5,
              aux={"controlnet-canny": "sd21-controlnet-canny", "controlnet-depth": "sd21-controlnet-depth"},
              note="SD 2.1 distilled to 1-4 steps without guidance"),
    ModelSpec("sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5", sizes=((512, 512), (512, 768), (768, 512)),
              steps=25, guidance=7.5, scheduler="dpm++", variant="fp16",
              edits=SD_EDITS + ("controlnet-canny", "controlnet-depth", "ip-adapter"),
              aux={"controlnet-canny": "sd15-controlnet-canny", "controlnet-depth": "sd15-controlnet-depth",
                   "ip-adapter": "sd15-ip-adapter"}),
    ModelSpec("instruct-pix2pix", "timbrooks/instruct-pix2pix", steps=20, guidance=7.5, text2img=False,
              variant="fp16", edits=("instruct", "lora"), options={"image_guidance": 1.5},
              note="edits an image by a written instruction; guidance is the text scale, "
                   "extra.image_guidance the image scale"),
    ModelSpec("sdxl", "stabilityai/stable-diffusion-xl-base-1.0", sizes=SDXL_SIZES, steps=30, guidance=6.0,
              scheduler="dpm++", variant="fp16", vram_gb=10, strength=0.4,
              edits=SD_EDITS + ("controlnet-canny", "controlnet-depth", "ip-adapter"),
              aux={"refiner": "sdxl-refiner", "controlnet-canny": "sdxl-controlnet-canny",
                   "controlnet-depth": "sdxl-controlnet-depth", "ip-adapter": "sdxl-ip-adapter"},
              note="extra.refiner=true hands the last 20% of the steps to the SDXL refiner"),
    ModelSpec("sdxl-turbo", "stabilityai/sdxl-turbo", steps=1, guidance=0.0, negative=False, variant="fp16",
              vram_gb=10, edits=SD_EDITS, strength=0.5),
    ModelSpec("flux-schnell", "black-forest-labs/FLUX.1-schnell", sizes=FLUX_SIZES, steps=4, guidance=0.0,
              negative=False, schedulers=FLOW_SCHEDULERS, dtype="bf16", vram_gb=34, multiple=16, max_n=4,
              edits=SD_EDITS, strength=0.8, options={"max_sequence_length": 256},
              note="4 steps, no classifier-free guidance"),
    ModelSpec("flux-dev", "black-forest-labs/FLUX.1-dev", sizes=FLUX_SIZES, steps=28, guidance=3.5,
              negative=False, schedulers=FLOW_SCHEDULERS, dtype="bf16", vram_gb=34, multiple=16, max_n=4,
              edits=SD_EDITS, strength=0.8, options={"max_sequence_length": 512},
              note="guidance is Flux's distilled guidance embedding, not CFG"),
    ModelSpec("sd3-medium", "stabilityai/stable-diffusion-3-medium-diffusers", sizes=SDXL_SIZES, steps=28,
              guidance=7.0, schedulers=FLOW_SCHEDULERS, vram_gb=18, multiple=16, max_n=4, edits=SD_EDITS),
    # today's models (diffusers 0.42 classes; not yet run with real weights, see each family file)
    ModelSpec("sd3.5-large", "stabilityai/stable-diffusion-3.5-large", sizes=SD35_SIZES, steps=28, guidance=3.5,
              schedulers=FLOW_SCHEDULERS, dtype="bf16", vram_gb=30, multiple=16, max_n=4, edits=SD_EDITS,
              note="8B MMDiT, gated; ATELIER_DROP_T5=1 loads it without text encoder 3 (T5-XXL, ~9 GB in bf16)"),
    ModelSpec("sd3.5-large-turbo", "stabilityai/stable-diffusion-3.5-large-turbo", sizes=SD35_SIZES, steps=4,
              guidance=0.0, negative=False, schedulers=FLOW_SCHEDULERS, dtype="bf16", vram_gb=30, multiple=16,
              max_n=4, edits=SD_EDITS, strength=0.8, note="distilled to 4 steps without guidance; gated"),
    ModelSpec("sd3.5-medium", "stabilityai/stable-diffusion-3.5-medium", sizes=SD35_SIZES, steps=40, guidance=4.5,
              schedulers=FLOW_SCHEDULERS, dtype="bf16", vram_gb=20, multiple=16, max_n=4, edits=SD_EDITS,
              note="2.5B MMDiT-X, gated; ATELIER_DROP_T5=1 drops text encoder 3 (about 11 GB less)"),
    ModelSpec("flux-fill", "black-forest-labs/FLUX.1-Fill-dev", sizes=FLUX_SIZES, steps=50, guidance=30.0,
              negative=False, text2img=False, edits=("inpaint",), schedulers=FLOW_SCHEDULERS, dtype="bf16",
              vram_gb=34, multiple=16, max_n=4, strength=1.0, options={"max_sequence_length": 512},
              note="inpaints (white in the mask is repainted; to outpaint, give a larger canvas with the new "
                   "area white); guidance is distilled, ~30; gated"),
    ModelSpec("flux-kontext", "black-forest-labs/FLUX.1-Kontext-dev", sizes=KONTEXT_SIZES, steps=28, guidance=2.5,
              negative=False, text2img=False, edits=("instruct",), schedulers=FLOW_SCHEDULERS, dtype="bf16",
              vram_gb=34, multiple=16, max_n=4, options={"max_sequence_length": 512},
              note="edits an image by a written instruction, keeping what it is not told to change; gated"),
    ModelSpec("qwen-image", "Qwen/Qwen-Image", sizes=QWEN_SIZES, steps=50, guidance=4.0,
              schedulers=FLOW_SCHEDULERS, dtype="bf16", vram_gb=58, multiple=16, max_n=4,
              note="20B MMDiT with a Qwen2.5-VL text encoder; renders long text well; guidance is true CFG"),
    ModelSpec("qwen-image-edit", "Qwen/Qwen-Image-Edit", sizes=QWEN_SIZES, steps=50, guidance=4.0,
              text2img=False, edits=("instruct",), schedulers=FLOW_SCHEDULERS, dtype="bf16", vram_gb=60,
              multiple=16, max_n=4, note="edits by instruction, text in the picture included; true CFG"),
    # video
    ModelSpec("svd", "stabilityai/stable-video-diffusion-img2vid", kind="video", sizes=((1024, 576), (576, 1024)),
              steps=25, guidance=3.0, negative=False, text2img=False, variant="fp16", vram_gb=16, schedulers=(),
              frames=14, max_frames=14, fps=7, options={"motion_bucket_id": 127, "noise_aug_strength": 0.02},
              note="image to video: animates source_image; the prompt is not used"),
    ModelSpec("svd-xt", "stabilityai/stable-video-diffusion-img2vid-xt", kind="video",
              sizes=((1024, 576), (576, 1024)), steps=25, guidance=3.0, negative=False, text2img=False,
              variant="fp16", vram_gb=20, schedulers=(), frames=25, max_frames=25, fps=7,
              options={"motion_bucket_id": 127, "noise_aug_strength": 0.02},
              note="image to video: animates source_image; the prompt is not used"),
    ModelSpec("cogvideox-2b", "THUDM/CogVideoX-2b", kind="video", sizes=((720, 480),), steps=50, guidance=6.0,
              schedulers=("ddim", "dpm"), vram_gb=18, frames=49, max_frames=49, frame_step=8, fps=8, multiple=16),
    ModelSpec("wan-1.3b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", kind="video", sizes=((832, 480), (480, 832)),
              steps=50, guidance=5.0, schedulers=("unipc",), dtype="bf16", vram_gb=16, frames=81, max_frames=81,
              frame_step=4, fps=16, multiple=16),
    ModelSpec("wan2.2-t2v", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", kind="video", sizes=WAN_SIZES, steps=40,
              guidance=4.0, schedulers=("unipc",), dtype="bf16", vram_gb=80, frames=81, max_frames=81,
              frame_step=4, fps=16, multiple=16, options={"guidance_scale_2": 3.0},
              note="two 14B experts (high noise, then low noise); guidance is the high-noise expert's, "
                   "the low-noise one keeps 3.0; needs offload below 80 GB"),
    ModelSpec("wan2.2-i2v", "Wan-AI/Wan2.2-I2V-A14B-Diffusers", kind="video", sizes=WAN_SIZES, steps=40,
              guidance=3.5, text2img=False, schedulers=("unipc",), dtype="bf16", vram_gb=80, frames=81,
              max_frames=81, frame_step=4, fps=16, multiple=16,
              note="animates source_image as the prompt says; two 14B experts"),
    ModelSpec("ltx-video", "Lightricks/LTX-Video", kind="video", sizes=((704, 480), (480, 704), (768, 512)),
              steps=50, guidance=3.0, schedulers=("euler",), dtype="bf16", vram_gb=12, frames=97, max_frames=257,
              frame_step=8, fps=24, multiple=32, note="2B DiT, near real time; 8·k+1 frames"),
    # weights used by the models above
    ModelSpec("sdxl-refiner", "stabilityai/stable-diffusion-xl-refiner-1.0", kind="aux", variant="fp16"),
    ModelSpec("sd21-controlnet-canny", "thibaud/controlnet-sd21-canny-diffusers", kind="aux"),
    ModelSpec("sd21-controlnet-depth", "thibaud/controlnet-sd21-depth-diffusers", kind="aux"),
    ModelSpec("sd15-controlnet-canny", "lllyasviel/control_v11p_sd15_canny", kind="aux"),
    ModelSpec("sd15-controlnet-depth", "lllyasviel/control_v11f1p_sd15_depth", kind="aux"),
    ModelSpec("sdxl-controlnet-canny", "diffusers/controlnet-canny-sdxl-1.0", kind="aux"),
    ModelSpec("sdxl-controlnet-depth", "diffusers/controlnet-depth-sdxl-1.0", kind="aux"),
    ModelSpec("sd15-ip-adapter", "h94/IP-Adapter", kind="aux",
              options={"subfolder": "models", "weight_name": "ip-adapter_sd15.safetensors"}),
    ModelSpec("sdxl-ip-adapter", "h94/IP-Adapter", kind="aux",
              options={"subfolder": "sdxl_models", "weight_name": "ip-adapter_sdxl.safetensors"}),
    ModelSpec("depth-estimator", "depth-anything/Depth-Anything-V2-Small-hf", kind="aux"),
]}
