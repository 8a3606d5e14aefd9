"""What the live step hook costs: seconds per image on the embedded model with nobody listening and
with a listener that takes every step's preview as a PNG data URL (as a run's `progress` events do),
alternating, after a warm-up. python -m local_models.bench_step_progress [--images 10]"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from agent.core.progress import preview_url, reporting_steps
from agent.core.types import GenerationRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10, help="images timed each way")
    args = parser.parse_args()
    from local_models.shapes.backend import ShapesBackend

    backend, out = ShapesBackend("shapes"), Path(tempfile.mkdtemp())
    steps = []

    def listener(p) -> None:
        steps.append(preview_url(p.preview))

    request = GenerationRequest(prompt="a red circle left of a blue square", model="local:shapes")
    with reporting_steps(listener):
        backend.generate(request, out)  # loads, warms up, fits the preview's colour map
    times = {"without a hook": [], "with a hook": []}
    for i in range(args.images):
        for name, hook in (("without a hook", None), ("with a hook", listener)):
            one = request.model_copy(update={"seed": i})
            start = time.perf_counter()
            with reporting_steps(hook):
                backend.generate(one, out)
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name}: {statistics.median(values):.3f} s per image (median of {len(values)}, "
              f"min {min(values):.3f}, max {max(values):.3f})")
    heard = len(steps)
    # the hook's own work, apart from the machine's noise: one step's callback on this model's latents
    import torch
    from local_models.step_progress import step_callback
    pipe, latents = backend.pipe("txt2img"), torch.randn(1, 4, 16, 16)
    callback, calls = step_callback([(listener, 1)]), 1000
    start = time.perf_counter()
    for i in range(calls):
        callback(pipe, i % 20, None, {"latents": latents})
    each = (time.perf_counter() - start) / calls
    print(f"one step's callback (preview and PNG data URL): {each * 1000:.3f} ms; 20 steps: {each * 20 * 1000:.1f} ms "
          f"= {each * 20 / min(times['without a hook']) * 100:.2f}% of the fastest image")
    extra = statistics.median(times["with a hook"]) - statistics.median(times["without a hook"])
    print(f"the hook: {extra * 1000:+.1f} ms per image of {request.steps or 20} steps "
          f"({extra / statistics.median(times['without a hook']) * 100:+.1f}%); {heard} steps heard")


if __name__ == "__main__":
    main()
