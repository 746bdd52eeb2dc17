"""Outputs for people: HTML report and plots."""
