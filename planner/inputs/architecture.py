"""Model architectures: the validated shapes a model is planned with (attention kind and shape, MoE routing,
windows, linear and compressed attention, the checkpoint's precision) and what follows from them (parameter
counts, KV bytes per token, state per sequence). Loading presets and Hugging Face configs: planner.inputs.models.

Only what the roofline needs is kept. Derived quantities are properties so they stay in step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MLA(_Strict):
    """Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2): a compressed latent KV cache."""

    kv_lora_rank: int = Field(gt=0)
    q_lora_rank: int = Field(ge=0, description="0 = queries projected directly from hidden")
    qk_rope_head_dim: int = Field(gt=0)
    qk_nope_head_dim: int = Field(gt=0)
    v_head_dim: int = Field(gt=0)


class MoE(_Strict):
    """Routed experts (SwiGLU, 3 matrices each), optional shared experts, optional dense-first layers."""

    num_experts: int = Field(gt=1)
    top_k: int = Field(gt=0)
    expert_intermediate_size: int = Field(gt=0)
    num_shared_experts: int = Field(default=0, ge=0)
    shared_intermediate_size: int = Field(default=0, ge=0, description="per shared expert")
    first_dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense FFN")
    latent_size: int | None = Field(default=None, gt=0, description="latent MoE (Nemotron-3 Super/Ultra): the "
                                    "experts run on a projection of the hidden state to this width")

    @model_validator(mode="after")
    def _check(self) -> MoE:
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k={self.top_k} exceeds num_experts={self.num_experts}")
        return self


class SlidingWindow(_Strict):
    """Some layers attend only to the last `window` tokens (gpt-oss alternates full and windowed), or only within
    their `window`-token chunk (`chunked`: Llama-4's local layers). A chunked layer is priced as a sliding window
    of the chunk's size: its KV is at most one chunk either way; a long context's attention is overestimated by up
    to 2x on those layers (a query sees between 0 and a chunk of keys, half of one on average)."""

    window: int = Field(gt=0)
    num_layers: int = Field(ge=0, description="how many of the layers are windowed")
    kind: Literal["sliding", "chunked"] = "sliding"


class FullAttentionShape(_Strict):
    """The full-attention layers' own shape where it differs from the sliding-window layers' (Gemma-4: wider heads,
    fewer KV heads, values read from the keys). The model's head_dim and num_kv_heads then describe its windowed
    layers; the query heads are the same in both."""

    head_dim: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    values_are_keys: bool = Field(default=False, description="no value projection: the keys serve as values, and "
                                                              "the cache holds them once")

    @property
    def kv_elems_per_token(self) -> int:
        return (1 if self.values_are_keys else 2) * self.num_kv_heads * self.head_dim


class LinearAttention(_Strict):
    """Hybrid models: `num_layers` of the layers mix tokens with a linear-attention recurrence instead of softmax
    attention: Gated DeltaNet (Qwen3.5/3.6, Qwen3-Next), Kimi Delta Attention (Kimi-K3: the same state, a decay per
    key channel) or Mamba2 (Nemotron-H: value heads = mamba heads, value head dim = mamba head dim, key heads =
    groups, key head dim = the SSM state size). Such a layer keeps a
    constant-size state per sequence (per value head a key_head_dim x value_head_dim matrix, and a short
    convolution's last kernel-1 inputs), not a KV cache that grows with the context."""

    kind: Literal["gated_deltanet", "mamba2", "kda"] = "gated_deltanet"
    num_layers: int = Field(gt=0, description="how many of the layers are linear attention; the rest are full")
    num_key_heads: int = Field(gt=0)
    num_value_heads: int = Field(gt=0)
    key_head_dim: int = Field(gt=0)
    value_head_dim: int = Field(gt=0)
    conv_kernel: int = Field(default=4, gt=0)
    state_bytes_per_elem: int = Field(default=4, gt=0, description="the recurrent state's dtype (fp32: 4)")
    output_gate_rank: int = Field(default=0, ge=0, description="kda: the output gate's projection, full rank (0) or "
                                                               "through a bottleneck of this width")

    @property
    def conv_channels(self) -> int:
        return 2 * self.num_key_heads * self.key_head_dim + self.num_value_heads * self.value_head_dim

    def layer_params(self, hidden: int) -> int:
        """in_proj (q, k of the key heads; v and the output gate z of the value heads; the decay a and the gate
        b per value head), the depthwise convolution over q, k, v, out_proj, and per-head A and dt bias and the
        gated norm's weight."""
        nk, nv, dk, dv = self.num_key_heads, self.num_value_heads, self.key_head_dim, self.value_head_dim
        if self.kind == "kda":  # q, k, v; the per-channel decay through a key_head_dim bottleneck (f_a, f_b) and its
            # bias; beta per head; the output gate (full rank or through its bottleneck); conv; out_proj; A and norm
            v = nv * dv
            rank = self.output_gate_rank
            gate = hidden * v if rank == 0 else rank * (hidden + v)
            return (hidden * (2 * nk * dk + v + nv) + dk * (hidden + nk * dk) + nk * dk + gate
                    + self.conv_channels * self.conv_kernel + v * hidden + nv + dv)
        if self.kind == "mamba2":  # in_proj (z, x, B, C, dt), conv over x, B, C, out_proj, A, D, dt bias, norm
            in_proj = hidden * (2 * nv * dv + 2 * nk * dk + nv)
            return in_proj + self.conv_channels * self.conv_kernel + nv * dv * hidden + 3 * nv + nv * dv
        in_proj = hidden * (2 * nk * dk + 2 * nv * dv + 2 * nv)
        return in_proj + self.conv_channels * self.conv_kernel + nv * dv * hidden + 2 * nv + dv

    @property
    def state_elems_per_layer(self) -> int:
        """Per sequence: the recurrent state (value heads x key_head_dim x value_head_dim) and the convolution's
        last kernel - 1 inputs."""
        return (self.num_value_heads * self.key_head_dim * self.value_head_dim
                + self.conv_channels * (self.conv_kernel - 1))

    @property
    def flops_per_token_per_layer(self) -> int:
        """The recurrence per token and layer (projections aside): per value head the delta-rule update (S k,
        then a rank-1 correction: ~4 dk dv) and the read-out (S q: 2 dk dv)."""
        return 6 * self.num_value_heads * self.key_head_dim * self.value_head_dim


class SparseAttention(_Strict):
    """DeepSeek sparse attention (DSA: DeepSeek-V3.2, GLM-5): a lightning indexer scores every cached token for each
    query (`index_heads` x `index_head_dim`, in fp8) and the attention reads only the `topk` best; the cache keeps
    every token's KV plus its indexer key (`index_head_dim` fp8 bytes and a 4-byte scale). `indexer_layers`
    compute the scores (GLM-5.2 shares them across layers); every softmax-attention layer attends sparsely."""

    topk: int = Field(gt=0)
    index_heads: int = Field(gt=0)
    index_head_dim: int = Field(gt=0)
    indexer_layers: int = Field(gt=0)

    @property
    def key_bytes_per_token(self) -> int:
        return self.index_head_dim + 4

    def layer_params(self, hidden: int, q_lora_rank: int) -> int:
        """The indexer's projections on an indexer layer: queries from the query latent (or the hidden state), one
        key and the per-head weights from the hidden state."""
        heads_dim = self.index_heads * self.index_head_dim
        return (q_lora_rank or hidden) * heads_dim + hidden * self.index_head_dim + hidden * self.index_heads


class CompressedAttention(_Strict):
    """DeepSeek-V4's attention. Every layer attends over the KV of its last `window` tokens, kept as they are; a CSA
    layer also over the `topk` best of its compressed entries (one per `csa_ratio` tokens, a learned pooling), which
    a lightning indexer (`index_heads` x `index_head_dim`, its own compressed keys) picks by scoring every entry; an
    HCA layer over all of its entries (one per `hca_ratio` tokens). One KV head of the model's head_dim serves as keys
    and values; queries come through a `q_lora_rank` latent; the output through a grouped low-rank projection
    (`o_groups` groups of heads, each to `o_lora_rank`, then to the hidden size). The residual stream is `hc_mult`
    streams wide (manifold-constrained hyper-connections: small mixing projections per block)."""

    window: int = Field(gt=0)
    csa_layers: int = Field(ge=0)
    hca_layers: int = Field(ge=0)
    csa_ratio: int = Field(default=4, gt=1)
    hca_ratio: int = Field(default=128, gt=1)
    topk: int = Field(gt=0)
    index_heads: int = Field(gt=0)
    index_head_dim: int = Field(gt=0)
    q_lora_rank: int = Field(gt=0)
    o_groups: int = Field(gt=0)
    o_lora_rank: int = Field(gt=0)
    hc_mult: int = Field(default=1, gt=0)

    @property
    def index_key_bytes(self) -> int:
        """An indexer key per CSA entry: fp8 and a 4-byte scale (as DSA's)."""
        return self.index_head_dim + 4

    def compressor_params(self, hidden: int, head_dim: int) -> int:
        """Compressors and indexers of all layers: a CSA layer pools two overlapping series (KV and gate projections
        of 2 x head_dim, a position bias per slot) and its indexer does the same at index_head_dim, with its query
        projection from the latent and a weight per head; an HCA layer pools one series."""
        csa = (4 * hidden * head_dim + self.csa_ratio * 2 * head_dim + head_dim
               + 4 * hidden * self.index_head_dim + self.csa_ratio * 2 * self.index_head_dim + self.index_head_dim
               + self.q_lora_rank * self.index_heads * self.index_head_dim + hidden * self.index_heads)
        hca = 2 * hidden * head_dim + self.hca_ratio * head_dim + head_dim
        return self.csa_layers * csa + self.hca_layers * hca

    def hyper_params(self, hidden: int) -> int:
        """One hyper-connection (two per layer): the projection of the hc_mult streams to their pre, post and
        mixing weights ((2 + n) n of them), with their biases and three scales."""
        n = self.hc_mult
        return (2 + n) * n * (n * hidden + 1) + 3 if n > 1 else 0


class Checkpoint(_Strict):
    """The precision the checkpoint ships in (planner.inputs.quantization): the plan's default weights and KV
    dtypes unless a scenario or `--weights` says otherwise."""

    weights: Literal["bf16", "fp8", "fp4", "w4a16"]
    kv_cache: Literal["bf16", "fp8", "fp4"] | None = None
    recipe: str = ""
    fp4_format: Literal["nvfp4", "mxfp4"] | None = None  # 4-bit float weights: which format (frameworks.yaml)


class ModelArch(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-_]*$")
    name: str = ""
    hidden_size: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0, description="for MLA: equals num_heads (latent is shared)")
    head_dim: int = Field(gt=0, description="for MLA: qk_nope + qk_rope head dim")
    intermediate_size: int = Field(gt=0, description="dense FFN width (dense layers / dense-first layers)")
    vocab_size: int = Field(gt=0)
    tie_embeddings: bool = False
    attention: Literal["gqa", "mla"] = "gqa"
    mla: MLA | None = None
    moe: MoE | None = None
    sliding_window: SlidingWindow | None = None
    full_attention: FullAttentionShape | None = Field(default=None, description="the full-attention layers' shape "
                                                      "when it differs from the windowed layers' (Gemma-4)")
    attention_bias: bool = False
    attn_output_gate: bool = Field(default=False, description="full-attention layers gate their output with a "
                                                              "second query-sized projection (Qwen3.5, Qwen3-Next; "
                                                              "Kimi-K3's gated MLA)")
    linear_attention: LinearAttention | None = None
    sparse_attention: SparseAttention | None = None
    compressed_attention: CompressedAttention | None = Field(default=None, description="DeepSeek-V4: a window on "
                                                             "every layer, compressed KV entries beside it")
    checkpoint: Checkpoint | None = Field(default=None, description="a quantized checkpoint's precision")
    ffn_layers: int | None = Field(default=None, gt=0, description="feed-forward blocks when they are counted apart "
                                   "from the token-mixer layers (Nemotron-H: each block is a mixer or an FFN)")
    mlp_gated: bool = Field(default=True, description="gated FFNs (SwiGLU: 3 matrices) or not (relu2: 2)")
    vision_encoder: bool = Field(default=False, description="the checkpoint also has a vision encoder, which is not "
                                                            "modelled: the plan covers the language model")
    mtp_layers: int = Field(default=0, ge=0, description="multi-token-prediction modules (usable as a speculative "
                                                         "draft: speculative.method mtp)")
    source: str = Field(default="", description="where the shapes come from (HF repo / config URL)")

    @model_validator(mode="after")
    def _check(self) -> ModelArch:
        if self.attention == "mla" and self.mla is None:
            raise ValueError("attention: mla needs an 'mla' block")
        if self.attention == "gqa" and self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads={self.num_heads} is not a multiple of num_kv_heads={self.num_kv_heads}")
        if self.moe and self.moe.first_dense_layers > self.num_ffn_layers:
            raise ValueError("moe.first_dense_layers exceeds the FFN layers")
        if self.sliding_window and self.sliding_window.num_layers > self.num_layers:
            raise ValueError("sliding_window.num_layers exceeds num_layers")
        if self.full_attention and (self.attention != "gqa" or not self.sliding_window):
            raise ValueError("full_attention (a shape of its own for the full-attention layers) needs gqa attention "
                             "and sliding_window layers to differ from")
        if self.full_attention and self.num_heads % self.full_attention.num_kv_heads:
            raise ValueError(f"num_heads={self.num_heads} is not a multiple of full_attention.num_kv_heads="
                             f"{self.full_attention.num_kv_heads}")
        if self.linear_attention and self.linear_attention.num_layers >= self.num_layers:
            raise ValueError("linear_attention.num_layers must leave at least one full-attention layer")
        if self.sparse_attention and self.sparse_attention.indexer_layers > self.num_layers:
            raise ValueError("sparse_attention.indexer_layers exceeds num_layers")
        ca = self.compressed_attention
        if ca:
            if self.attention != "gqa" or self.num_kv_heads != 1:
                raise ValueError("compressed_attention needs gqa attention with one KV head (keys serve as values)")
            if ca.csa_layers + ca.hca_layers > self.num_layers:
                raise ValueError("compressed_attention: csa_layers + hca_layers exceeds num_layers")
            if self.sliding_window or self.full_attention or self.linear_attention or self.sparse_attention:
                raise ValueError("compressed_attention does not combine with sliding_window, full_attention, "
                                 "linear_attention or sparse_attention (its window and indexer are its own)")
        return self

    # ---- derived shapes (element counts, not bytes) ----
    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def num_ffn_layers(self) -> int:
        return self.ffn_layers or self.num_layers

    @property
    def num_moe_layers(self) -> int:
        return self.num_ffn_layers - self.moe.first_dense_layers if self.moe else 0

    @property
    def num_dense_layers(self) -> int:
        return self.num_ffn_layers - self.num_moe_layers

    @property
    def ffn_matrices(self) -> int:
        return 3 if self.mlp_gated else 2

    @property
    def moe_dim(self) -> int:
        """The width the routed experts see: the hidden size, or the latent of a latent MoE."""
        return self.moe.latent_size if self.moe and self.moe.latent_size else self.hidden_size

    @property
    def num_full_attention_layers(self) -> int:
        return self.num_layers - (self.linear_attention.num_layers if self.linear_attention else 0)

    @property
    def full_attention_fraction(self) -> float:
        """Share of the layers with softmax attention (a KV cache); 1 unless the model is a linear hybrid."""
        return self.num_full_attention_layers / self.num_layers

    @property
    def num_window_layers(self) -> int:
        return self.sliding_window.num_layers if self.sliding_window else 0

    @property
    def mixer_params(self) -> int:
        """Token-mixer parameters of all layers: softmax attention, and linear attention in hybrids."""
        full = (self.num_window_layers * self.window_attn_params_per_layer
                + (self.num_full_attention_layers - self.num_window_layers) * self.full_attn_params_per_layer)
        la, sa, ca = self.linear_attention, self.sparse_attention, self.compressed_attention
        indexer = sa.indexer_layers * sa.layer_params(self.hidden_size, self.mla.q_lora_rank if self.mla else 0) if sa else 0
        if ca:  # the compressors (and CSA's indexers) of the layers that have them
            indexer = ca.compressor_params(self.hidden_size, self.head_dim)
        return full + (la.num_layers * la.layer_params(self.hidden_size) if la else 0) + indexer

    @property
    def attn_params_per_layer(self) -> float:
        """Token-mixer parameters per layer, averaged over the layers (full and linear attention)."""
        return self.mixer_params / self.num_layers

    @property
    def full_attn_params_per_layer(self) -> int:
        h = self.hidden_size
        if self.attention == "mla":
            m = self.mla
            qk = m.qk_nope_head_dim + m.qk_rope_head_dim
            q = h * self.num_heads * qk if m.q_lora_rank == 0 else h * m.q_lora_rank + m.q_lora_rank * self.num_heads * qk
            kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * self.num_heads * (m.qk_nope_head_dim + m.v_head_dim)
            o = self.num_heads * m.v_head_dim * h
            return q + kv + o * (2 if self.attn_output_gate else 1)  # a gate is as wide as the output projection
        fa, ca = self.full_attention, self.compressed_attention
        if ca:  # q through its latent; one KV head (keys are values); grouped low-rank output; sinks; two mHC
            q_dim = self.num_heads * self.head_dim
            q = h * ca.q_lora_rank + ca.q_lora_rank * q_dim
            o = q_dim * ca.o_lora_rank + ca.o_groups * ca.o_lora_rank * h
            return q + h * self.head_dim + o + self.num_heads + 2 * ca.hyper_params(h)
        if fa:
            return self._gqa_params(fa.head_dim, fa.num_kv_heads, fa.values_are_keys)
        return self._gqa_params(self.head_dim, self.num_kv_heads, False)

    def _gqa_params(self, head_dim: int, kv_heads: int, values_are_keys: bool) -> int:
        """One grouped-query attention layer: Q (and its output gate), K, V (none when the keys serve as values), O."""
        h = self.hidden_size
        q_heads = self.num_heads * (2 if self.attn_output_gate else 1)
        qkv = h * (q_heads + (1 if values_are_keys else 2) * kv_heads) * head_dim
        o = self.num_heads * head_dim * h
        return qkv + o

    @property
    def window_attn_params_per_layer(self) -> int:
        """A sliding-window layer: the base shape where full_attention gives the full layers their own, else theirs."""
        if self.full_attention:
            return self._gqa_params(self.head_dim, self.num_kv_heads, False)
        return self.full_attn_params_per_layer

    @property
    def dense_ffn_params(self) -> int:
        return self.ffn_matrices * self.hidden_size * self.intermediate_size

    @property
    def expert_params(self) -> int:
        return self.ffn_matrices * self.moe_dim * self.moe.expert_intermediate_size if self.moe else 0

    @property
    def shared_expert_params(self) -> int:
        """Dense parameters of a MoE layer that every token runs: its shared experts (on the hidden state) and, in
        a latent MoE, the projections into and out of the latent."""
        if not self.moe:
            return 0
        shared = self.ffn_matrices * self.hidden_size * self.moe.shared_intermediate_size * self.moe.num_shared_experts
        latent = 2 * self.hidden_size * self.moe.latent_size if self.moe.latent_size else 0
        return shared + latent

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tie_embeddings else 2)

    @property
    def total_params(self) -> int:
        layers = self.mixer_params + self.num_dense_layers * self.dense_ffn_params
        if self.moe:
            layers += self.num_moe_layers * (self.moe.num_experts * self.expert_params + self.shared_expert_params)
        return layers + self.embedding_params

    @property
    def active_params(self) -> int:
        """Parameters touched per token (routed experts counted top_k times).

        Of the embeddings only the LM head (vocab x hidden) counts: the input-embedding lookup reads one
        row per token, not the table. This is the convention behind gpt-oss's published 5.1B active.
        """
        layers = self.mixer_params + self.num_dense_layers * self.dense_ffn_params
        if self.moe:
            layers += self.num_moe_layers * (self.moe.top_k * self.expert_params + self.shared_expert_params)
        return layers + self.vocab_size * self.hidden_size

    @property
    def kv_elems_per_token_per_full_layer(self) -> int:
        """KV-cache elements one token adds in one softmax-attention layer: 2·kv_heads·head_dim (GQA) or
        latent+rope (MLA)."""
        if self.attention == "mla":
            return self.mla.kv_lora_rank + self.mla.qk_rope_head_dim
        if self.full_attention:
            return self.full_attention.kv_elems_per_token
        if self.compressed_attention:  # per KV entry (a window token or a compressed one): keys serve as values
            return self.head_dim
        return 2 * self.num_kv_heads * self.head_dim

    @property
    def kv_elems_per_token_per_window_layer(self) -> int:
        """The same in a sliding-window layer: the full layers' figure unless full_attention gives those their own."""
        if self.full_attention:
            return 2 * self.num_kv_heads * self.head_dim
        return self.kv_elems_per_token_per_full_layer

    @property
    def kv_elems_per_token_per_layer(self) -> float:
        """KV-cache elements per token, averaged over the layers (linear-attention layers hold none), so that
        num_layers x this is what a token adds to the whole model's cache."""
        if self.full_attention:
            full = self.num_full_attention_layers - self.num_window_layers
            return (full * self.kv_elems_per_token_per_full_layer
                    + self.num_window_layers * self.kv_elems_per_token_per_window_layer) / self.num_layers
        if self.compressed_attention:  # the compressed entries a token adds, amortized (the window is per sequence)
            return self.kv_elems_per_token_per_full_layer * self.compressed_entries_per_token
        return self.kv_elems_per_token_per_full_layer * self.full_attention_fraction

    @property
    def compressed_entries_per_token(self) -> float:
        """Compressed KV entries one token adds per layer, averaged over the layers (1 for a model that caches
        every token)."""
        ca = self.compressed_attention
        if not ca:
            return 1.0
        return (ca.csa_layers / ca.csa_ratio + ca.hca_layers / ca.hca_ratio) / self.num_layers

    @property
    def window_kv_elems_per_sequence(self) -> int:
        """DeepSeek-V4: the KV of the last `window` tokens every layer keeps, per sequence at full context."""
        ca = self.compressed_attention
        return ca.window * self.head_dim * self.num_layers if ca else 0

    @property
    def indexer_bytes_per_token(self) -> float:
        """DSA: the indexer keys one token adds to the cache, over every indexer layer (DeepSeek-V4: per CSA entry,
        amortized over its tokens; 0 without an indexer)."""
        sa, ca = self.sparse_attention, self.compressed_attention
        if ca:  # CSA: an indexer key per compressed entry
            return ca.csa_layers * ca.index_key_bytes / ca.csa_ratio
        return sa.indexer_layers * sa.key_bytes_per_token if sa else 0

    @property
    def indexer(self) -> tuple[int, int, int]:
        """(heads, head dim, layers) of the lightning indexer: DSA's, or DeepSeek-V4's on its CSA layers; zeros
        without one."""
        sa, ca = self.sparse_attention, self.compressed_attention
        if sa:
            return sa.index_heads, sa.index_head_dim, sa.indexer_layers
        if ca:
            return ca.index_heads, ca.index_head_dim, ca.csa_layers
        return 0, 0, 0

    @property
    def state_bytes_per_sequence(self) -> int:
        """Constant-size recurrent state one sequence holds in the linear-attention layers (0 without them)."""
        la = self.linear_attention
        return la.num_layers * la.state_elems_per_layer * la.state_bytes_per_elem if la else 0


def describe_model(m: ModelArch) -> dict:
    """What the planner knows of a model, in numbers: layers by kind, attention, experts, KV or state bytes,
    parameters (billions) and the default precision with where it comes from (`planner models show`)."""
    la, sw = m.linear_attention, m.sliding_window
    out = {
        "id": m.id, "name": m.name, "source": m.source,
        "total_params_b": m.total_params / 1e9, "active_params_b": m.active_params / 1e9,
        "layers": {"total": m.num_layers, "full_attention": m.num_full_attention_layers - (sw.num_layers if sw else 0),
                   "sliding_window": sw.num_layers if sw else 0, "window_tokens": sw.window if sw else None,
                   "window_kind": ("chunked local attention" if sw.kind == "chunked" else "sliding-window") if sw else None,
                   "linear_attention": la.num_layers if la else 0, "linear_kind": la.kind if la else None,
                   "moe": m.num_moe_layers, "dense_ffn": m.num_dense_layers, "mtp_modules": m.mtp_layers},
        "attention": {"kind": m.attention, "heads": m.num_heads, "kv_heads": m.num_kv_heads, "head_dim": m.head_dim,
                      "output_gate": m.attn_output_gate,
                      "full_attention": m.full_attention.model_dump() if m.full_attention else None,
                      "mla": m.mla.model_dump() if m.mla else None},
        "moe": ({"experts": m.moe.num_experts, "top_k": m.moe.top_k, "expert_width": m.moe.expert_intermediate_size,
                 "shared_experts": m.moe.num_shared_experts, "shared_width": m.moe.shared_intermediate_size}
                if m.moe else None),
        "kv_bytes_per_token": {"bf16": m.kv_elems_per_token_per_layer * m.num_layers * 2 + m.indexer_bytes_per_token,
                               "fp8": m.kv_elems_per_token_per_layer * m.num_layers + m.indexer_bytes_per_token},
        "state_bytes_per_sequence": m.state_bytes_per_sequence,
        "sparse_attention": (m.sparse_attention.model_dump() if m.sparse_attention else None),
        "compressed_attention": (m.compressed_attention.model_dump() if m.compressed_attention else None),
        "window_kv_bytes_per_sequence": {"bf16": m.window_kv_elems_per_sequence * 2,
                                         "fp8": m.window_kv_elems_per_sequence},
        "default_precision": ({"weights": m.checkpoint.weights, "kv_cache": m.checkpoint.kv_cache,
                               "from": m.checkpoint.recipe or "the checkpoint"} if m.checkpoint else
                              {"weights": "bf16", "kv_cache": None, "from": "no quantization config (16-bit)"}),
        "not_modelled": (["the vision encoder (the plan covers the language model)"] if m.vision_encoder else [])
                        + (["the compressors' pooling and the mHC mixing (elementwise; their projections are priced)"]
                           if m.compressed_attention else []),
    }
    return out
