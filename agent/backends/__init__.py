"""Back ends that live elsewhere (paid image and video APIs); local ones are in `local_models/`.
Imports only the core."""
