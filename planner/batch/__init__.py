"""Batch planning: sweep files, the resumable runner, the results store."""
