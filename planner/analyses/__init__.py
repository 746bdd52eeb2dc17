"""Analyses built on the optimizer and the engine: Pareto frontiers, single-configuration estimates, validation against measurements, calibration, kernel checks."""
