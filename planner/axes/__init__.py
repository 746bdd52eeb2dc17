"""Disaggregation axes on top of the engine: attention/FFN split, speculative decoding, draft pools, prefix caching, chunked prefill."""
