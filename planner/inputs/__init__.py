"""Inputs: the chip catalog, model architectures (presets and Hugging Face config.json) and the scenario."""
