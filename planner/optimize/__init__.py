"""Optimizer: coefficient table, pruning and queueing caps, the MILP, solve, results, diagnosis, traffic classes, uncertainty."""
