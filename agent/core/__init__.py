"""The core: types, errors, protocols, artifacts, records, the registry and prompt loading.
It imports nothing else of the project."""
