"""The names of the benchmark's strategies, light enough for the CLI's help to list them."""
BASE_STRATEGIES = ["single", "best_of_n", "loop", "loop_edits"]
LAYOUT_STRATEGIES = ["layout", "layout_edits", "agent_default"]
STRATEGIES = BASE_STRATEGIES + LAYOUT_STRATEGIES
VIDEO_STRATEGIES = ["single", "best_of_n", "loop"]
