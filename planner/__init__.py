"""planner: capacity planner for disaggregated LLM inference fleets.

Data flows one way: catalogs + models + scenario -> candidate grid -> roofline engine
(coefficient table) -> pruning -> MILP (Pyomo/HiGHS) -> result tables.
"""

__version__ = "0.1.0"
