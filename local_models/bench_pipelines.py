"""Speed of the local back ends on tiny pipelines (CPU, and CUDA when there is one):

  python -m local_models.bench_pipelines [--families sd flux] [--size 64] [--steps 4] [--repeats 15]
                                         [--threads 1] [--no-compile]

Prints four ratios: a warm back-end request over a bare pipeline call (target under 5%), a batch of 4
over 4 single calls, classifier-free guidance as one batched pass over two passes, and the UNet
compiled with `torch.compile` over eager."""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from agent.core.types import GenerationRequest
from local_models import diffusers_base, tiny_pipelines as tiny


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def compare(**fns) -> dict[str, float]:
    """Median seconds of each function, run in turns (a, b, a, b, ...) after a warm-up, so that the
    load of a shared machine drifting over time falls on all of them alike."""
    repeats = fns.pop("repeats")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def two_pass_cfg(unet) -> None:
    """Make the UNet run the unconditional and conditional halves of a CFG batch as two calls."""
    forward = unet.forward

    def split(sample, timestep, encoder_hidden_states, *args, **kwargs):
        half = sample.shape[0] // 2
        parts = [forward(sample[s], timestep, encoder_hidden_states[s], *args, **kwargs)[0]
                 for s in (slice(0, half), slice(half, None))]
        return (torch.cat(parts),)

    unet.forward = split


def bench_family(family: str, size: int, steps: int, repeats: int, out: Path) -> dict[str, float]:
    backend = tiny.backend(family)
    backend.spec = spec = replace(backend.spec, sizes=((size, size),))
    backend.info = spec.info()
    guidance = 0.0 if family == "flux" else 5.0
    request = GenerationRequest(prompt="two red circles left of a blue square", steps=steps, guidance=guidance)
    pipe = backend.load().pipe

    def bare(n: int = 1):
        return pipe(prompt=request.prompt, num_inference_steps=steps, guidance_scale=guidance, width=size,
                    height=size, num_images_per_prompt=n, generator=torch.Generator("cpu").manual_seed(0),
                    **spec.options).images

    image = bare()[0]
    inside: list[float] = []  # seconds spent in the pipeline call within each back-end request
    denoise = backend.denoise

    def timed_denoise(*args):
        start = time.perf_counter()
        out = denoise(*args)
        inside.append(time.perf_counter() - start)
        return out

    backend.denoise = timed_denoise
    outside = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.generate(request, out)
        outside.append(time.perf_counter() - start - inside[-1])
    backend.denoise = denoise
    result = {"own": statistics.median(outside)}
    result |= compare(bare=bare, backend=lambda: backend.generate(request, out),
                     png=lambda: diffusers_base.save_image(image, out, request), repeats=repeats)
    result |= compare(batch4=lambda: backend.generate(request.model_copy(update={"n": 4}), out),
                      single4=lambda: [backend.generate(request, out) for _ in range(4)], repeats=max(3, repeats // 3))
    return result


def bench_cfg_and_compile(size: int, steps: int, repeats: int, compile_: bool) -> dict[str, float]:
    pipe = tiny.build("sd").to(diffusers_base.pick_device())

    def call():
        return pipe(prompt="two red circles", num_inference_steps=steps, guidance_scale=5.0, width=size,
                    height=size, generator=torch.Generator("cpu").manual_seed(0)).images

    two = tiny.build("sd").to(diffusers_base.pick_device())
    two.set_progress_bar_config(disable=True)
    two_pass_cfg(two.unet)
    result = compare(cfg_batched=call, cfg_two_pass=lambda: two(
        prompt="two red circles", num_inference_steps=steps, guidance_scale=5.0, width=size, height=size,
        generator=torch.Generator("cpu").manual_seed(0)), repeats=repeats)
    if compile_:
        compiled = tiny.build("sd").to(diffusers_base.pick_device())
        compiled.set_progress_bar_config(disable=True)
        diffusers_base.compile_denoiser(compiled)
        start = time.perf_counter()
        compiled(prompt="two red circles", num_inference_steps=steps, guidance_scale=5.0, width=size, height=size)
        result["compile_seconds"] = time.perf_counter() - start
        result |= compare(eager=call, compiled=lambda: compiled(
            prompt="two red circles", num_inference_steps=steps, guidance_scale=5.0, width=size, height=size,
            generator=torch.Generator("cpu").manual_seed(0)), repeats=repeats)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=["sd", "sdxl", "flux"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = diffusers_base.pick_device()
    print(f"device {device}, torch {torch.__version__}, {args.threads} thread(s), tiny pipelines at "
          f"{args.size}×{args.size}, {args.steps} steps, median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            r = bench_family(family, args.size, args.steps, args.repeats, Path(tmp))
            print(f"{family:5s} warm request {1000 * r['backend']:7.1f} ms vs bare call {1000 * r['bare']:7.1f} ms: "
                  f"overhead {100 * (r['backend'] / r['bare'] - 1):+5.1f}% "
                  f"(writing the PNG alone: {1000 * r['png']:.1f} ms)")
            print(f"{family:5s} time a request spends outside the pipeline call: {1000 * r['own']:.1f} ms = "
                  f"{100 * r['own'] / r['bare']:.1f}% of a bare call")
            print(f"{family:5s} batch of 4 {1000 * r['batch4']:7.1f} ms vs 4 single calls {1000 * r['single4']:7.1f} ms:"
                  f" {r['single4'] / r['batch4']:.2f}× faster batched")
    r = bench_cfg_and_compile(args.size, args.steps, args.repeats, not args.no_compile)
    print(f"sd    CFG one batched pass {1000 * r['cfg_batched']:7.1f} ms vs two passes {1000 * r['cfg_two_pass']:7.1f} ms:"
          f" {r['cfg_two_pass'] / r['cfg_batched']:.2f}×")
    if "compiled" in r:
        print(f"sd    torch.compile UNet {1000 * r['compiled']:7.1f} ms vs eager {1000 * r['eager']:7.1f} ms: "
              f"{r['eager'] / r['compiled']:.2f}× (compiling took {r['compile_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
