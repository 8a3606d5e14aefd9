"""Atelier's local model back ends (torch and diffusers load only when a pipeline is first used).

OpenMP's threads spin between parallel regions by default (libgomp's OMP_WAIT_POLICY=ACTIVE). With
two torch threads on a 2-core machine shared with other processes, a spinning thread burns the core
its partner needs: the shapes model's batch of 8 ran 0.19 images/s against 1.50 with PASSIVE
(`python -m local_models.shapes.bench --threads 2`, load 7-8), and the warm server's runs slowed
the same way. libgomp reads the variable once, when torch loads it, so it is set here, before any
back end imports torch; a value the operator set is kept."""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
