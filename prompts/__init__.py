"""Prompt templates as data files (`NAME.md`); a package so that they ship in the wheel and load
through importlib.resources (`agent.core.prompts.load_prompt`)."""
