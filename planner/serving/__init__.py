"""Serving model: iteration-level simulation of continuous-batching engines (aggregated, and prefill/decode pools)
driven by the roofline engine's step times, for closed-loop clients or open-loop arrivals. Gives per-request TTFT,
TPOT, inter-token and end-to-end latency; validated on measured serving benchmarks (planner.analyses.serving)."""
