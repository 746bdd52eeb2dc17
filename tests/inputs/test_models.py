"""Model presets (models/*.yaml) and the Hugging Face config.json importer (planner/inputs/hf_import.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.inputs.architecture import ModelArch
from planner.inputs.hf_import import arch_dict_from_hf
from planner.inputs.models import from_hf_config, load_model, preset_ids

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"

PRESETS = [
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.3-70b",
    "llama-2-70b",
    "llama-3.1-405b",
    "mixtral-8x7b",
    "qwen3-32b",
    "qwen3-235b-a22b",
    "deepseek-v3",
    "deepseek-r1",
    "kimi-k2",
    "gpt-oss-120b",
    "step-3",
]
HF_FIXTURES = ["llama-3.1-70b", "mixtral-8x7b", "qwen3-235b-a22b", "deepseek-v3", "gpt-oss-120b"]


# ---------------------------------------------------------------- presets


def test_all_required_presets_present():
    assert set(PRESETS) <= set(preset_ids())


@pytest.mark.parametrize("model_id", sorted(set(PRESETS) | set(preset_ids())))
def test_preset_loads(model_id):
    m = load_model(model_id)
    assert isinstance(m, ModelArch)
    assert m.id == model_id
    assert m.name
    assert m.source.startswith("https://huggingface.co/")
    assert m.total_params >= m.active_params > 0


@pytest.mark.parametrize(
    "model_id, shape",
    [
        ("llama-3.1-8b", (4096, 32, 32, 8, 128, 14336, 128256)),
        ("llama-3.1-70b", (8192, 80, 64, 8, 128, 28672, 128256)),
        ("llama-3.3-70b", (8192, 80, 64, 8, 128, 28672, 128256)),
        ("llama-2-70b", (8192, 80, 64, 8, 128, 28672, 32000)),
        ("llama-3.1-405b", (16384, 126, 128, 8, 128, 53248, 128256)),
        ("mixtral-8x7b", (4096, 32, 32, 8, 128, 14336, 32000)),
        ("qwen3-32b", (5120, 64, 64, 8, 128, 25600, 151936)),
        ("qwen3-235b-a22b", (4096, 94, 64, 4, 128, 12288, 151936)),
        ("deepseek-v3", (7168, 61, 128, 128, 192, 18432, 129280)),
        ("deepseek-r1", (7168, 61, 128, 128, 192, 18432, 129280)),
        ("kimi-k2", (7168, 61, 64, 64, 192, 18432, 163840)),
        ("gpt-oss-120b", (2880, 36, 64, 8, 64, 2880, 201088)),
        ("step-3", (7168, 61, 64, 1, 256, 18432, 128815)),
    ],
)
def test_preset_shapes(model_id, shape):
    m = load_model(model_id)
    got = (
        m.hidden_size,
        m.num_layers,
        m.num_heads,
        m.num_kv_heads,
        m.head_dim,
        m.intermediate_size,
        m.vocab_size,
    )
    assert got == shape


@pytest.mark.parametrize(
    "model_id, moe",
    [
        ("mixtral-8x7b", (8, 2, 14336, 0, 0, 0)),
        ("qwen3-235b-a22b", (128, 8, 1536, 0, 0, 0)),
        ("deepseek-v3", (256, 8, 2048, 1, 2048, 3)),
        ("deepseek-r1", (256, 8, 2048, 1, 2048, 3)),
        ("kimi-k2", (384, 8, 2048, 1, 2048, 1)),
        ("gpt-oss-120b", (128, 4, 2880, 0, 0, 0)),
        ("step-3", (48, 3, 5120, 1, 5120, 4)),
    ],
)
def test_preset_moe(model_id, moe):
    e = load_model(model_id).moe
    assert (
        e.num_experts,
        e.top_k,
        e.expert_intermediate_size,
        e.num_shared_experts,
        e.shared_intermediate_size,
        e.first_dense_layers,
    ) == moe


@pytest.mark.parametrize(
    "model_id", ["llama-3.1-8b", "llama-3.1-70b", "llama-2-70b", "llama-3.1-405b", "qwen3-32b"]
)
def test_dense_presets_have_no_moe_mla_or_window(model_id):
    m = load_model(model_id)
    assert m.moe is None and m.mla is None and m.sliding_window is None and m.attention == "gqa"


@pytest.mark.parametrize("model_id", ["deepseek-v3", "deepseek-r1", "kimi-k2"])
def test_mla_presets(model_id):
    m = load_model(model_id)
    assert m.attention == "mla"
    assert (
        m.mla.kv_lora_rank,
        m.mla.q_lora_rank,
        m.mla.qk_rope_head_dim,
        m.mla.qk_nope_head_dim,
        m.mla.v_head_dim,
    ) == (512, 1536, 64, 128, 128)
    assert m.head_dim == m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim


def test_gpt_oss_window_and_bias():
    m = load_model("gpt-oss-120b")
    assert (m.sliding_window.window, m.sliding_window.num_layers) == (128, 18)
    assert m.attention_bias is True
    assert load_model("mixtral-8x7b").sliding_window is None


def test_v3_and_r1_share_architecture():
    skip = {"id", "name", "source"}
    assert load_model("deepseek-v3").model_dump(exclude=skip) == load_model("deepseek-r1").model_dump(
        exclude=skip
    )
    assert load_model("llama-3.1-70b").model_dump(exclude=skip) == load_model("llama-3.3-70b").model_dump(
        exclude=skip
    )


# ---------------------------------------------------------------- parameter counts vs published

B = 1e9


@pytest.mark.parametrize(
    "model_id, total, active",
    [
        ("llama-3.1-8b", 8.03 * B, None),
        ("llama-3.1-70b", 70.6 * B, None),
        ("llama-3.3-70b", 70.6 * B, None),
        ("llama-2-70b", 69.0 * B, None),
        ("llama-3.1-405b", 405.9 * B, None),
        ("llama-3.2-1b", 1.24 * B, None),
        ("qwen3-8b", 8.2 * B, None),
        ("qwen3-32b", 32.8 * B, None),
        ("mixtral-8x7b", 46.7 * B, 12.9 * B),
        ("qwen3-235b-a22b", 235 * B, 22 * B),
        ("deepseek-v3", 671 * B, 37 * B),  # main model, without the ~14B MTP module
        ("deepseek-r1", 671 * B, 37 * B),
        ("kimi-k2", 1030 * B, 32 * B),
        ("gpt-oss-120b", 116.8 * B, 5.13 * B),
    ],
)
def test_param_counts_match_published(model_id, total, active):
    if model_id not in preset_ids():
        pytest.skip(f"optional preset {model_id} not present")
    m = load_model(model_id)
    assert m.total_params == pytest.approx(total, rel=0.03)
    if active is not None:
        assert m.active_params == pytest.approx(active, rel=0.03)


def test_active_params_count_lm_head_not_input_embedding():
    m = load_model("llama-3.1-8b")
    assert m.total_params - m.active_params == m.vocab_size * m.hidden_size
    tied = load_model("llama-3.2-1b")
    assert tied.tie_embeddings and tied.active_params == tied.total_params


def test_step3_is_in_the_published_ballpark():
    # Step-3 is approximated (MFA modelled as GQA, see the YAML comment): only a loose check.
    m = load_model("step-3")
    assert 300 * B < m.total_params < 340 * B
    assert 35 * B < m.active_params < 46 * B


# ---------------------------------------------------------------- KV cache hand checks


def test_kv_elems_hand_checks():
    assert load_model("llama-3.1-70b").kv_elems_per_token_per_layer == 2 * 8 * 128 == 2048
    assert load_model("deepseek-v3").kv_elems_per_token_per_layer == 512 + 64 == 576
    assert load_model("kimi-k2").kv_elems_per_token_per_layer == 576
    assert load_model("qwen3-235b-a22b").kv_elems_per_token_per_layer == 2 * 4 * 128
    assert load_model("gpt-oss-120b").kv_elems_per_token_per_layer == 2 * 8 * 64
    assert load_model("step-3").kv_elems_per_token_per_layer == 2 * 1 * 256


# ---------------------------------------------------------------- HF config.json import


@pytest.mark.parametrize("name", HF_FIXTURES)
def test_hf_fixture_matches_preset(name):
    imported = load_model(FIXTURES / name / "config.json")
    preset = load_model(name)
    assert imported.id == name
    skip = {"id", "name", "source", "checkpoint"}  # a preset is the architecture; a config also its precision
    assert imported.model_dump(exclude=skip) == preset.model_dump(exclude=skip)
    assert imported.total_params == preset.total_params
    assert imported.active_params == preset.active_params
    assert imported.kv_elems_per_token_per_layer == preset.kv_elems_per_token_per_layer


def test_hf_fixture_folder_path_works():
    assert load_model(FIXTURES / "deepseek-v3").attention == "mla"


def _cfg(name: str) -> dict:
    return json.loads((FIXTURES / name / "config.json").read_text())


def test_missing_hidden_size_names_the_key(tmp_path):
    cfg = _cfg("llama-3.1-70b")
    del cfg["hidden_size"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PlannerError) as exc:
        load_model(tmp_path / "config.json")
    assert exc.value.field == "config.json.hidden_size"
    assert "hidden_size" in str(exc.value)
    assert exc.value.hint


@pytest.mark.parametrize(
    "fixture, key",
    [
        ("deepseek-v3", "kv_lora_rank"),
        ("mixtral-8x7b", "num_experts_per_tok"),
        ("gpt-oss-120b", "sliding_window"),
        ("llama-3.1-70b", "vocab_size"),
    ],
)
def test_missing_family_keys_name_the_key(fixture, key):
    cfg = _cfg(fixture)
    cfg.pop(key)
    if key == "num_experts_per_tok":
        assert "experts_per_token" not in cfg
    with pytest.raises(PlannerError) as exc:
        arch_dict_from_hf(cfg, fixture)
    assert exc.value.field == f"config.json.{key}"


def test_gpt_oss_accepts_either_top_k_key():
    cfg = _cfg("gpt-oss-120b")
    cfg.pop("num_experts_per_tok")
    assert arch_dict_from_hf(cfg, "x")["moe"]["top_k"] == 4
    cfg = _cfg("gpt-oss-120b")
    cfg.pop("experts_per_token")
    assert arch_dict_from_hf(cfg, "x")["moe"]["top_k"] == 4


def test_gpt_oss_without_layer_types_alternates():
    cfg = _cfg("gpt-oss-120b")
    cfg.pop("layer_types")
    assert arch_dict_from_hf(cfg, "x")["sliding_window"] == {"window": 128, "num_layers": 18}


def test_non_integer_value_is_reported():
    cfg = _cfg("llama-3.1-70b")
    cfg["num_hidden_layers"] = "eighty"
    with pytest.raises(PlannerError) as exc:
        from_hf_config(cfg, "bad")
    assert exc.value.field == "config.json.num_hidden_layers"


def test_deepseek_null_q_lora_rank_and_moe_layer_freq():
    # DeepSeek-V2-Lite style: no query compression.
    cfg = _cfg("deepseek-v3")
    cfg.update(q_lora_rank=None, first_k_dense_replace=1, num_hidden_layers=27, moe_layer_freq=1)
    m = from_hf_config(cfg, "v2-lite-like")
    assert m.mla.q_lora_rank == 0
    assert m.moe.first_dense_layers == 1 and m.num_moe_layers == 26


def test_qwen3_dense_explicit_head_dim():
    cfg = {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "hidden_size": 5120,
        "head_dim": 128,
        "intermediate_size": 25600,
        "num_attention_heads": 64,
        "num_hidden_layers": 64,
        "num_key_value_heads": 8,
        "vocab_size": 151936,
        "tie_word_embeddings": False,
        "sliding_window": None,
        "use_sliding_window": False,
        "max_window_layers": 64,
        "max_position_embeddings": 40960,
        "attention_bias": False,
    }
    skip = {"id", "name", "source"}
    assert from_hf_config(cfg, "qwen3-32b").model_dump(exclude=skip) == load_model("qwen3-32b").model_dump(
        exclude=skip
    )


def test_qwen2_derived_head_dim_bias_and_disabled_window():
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_attention_heads": 28,
        "num_hidden_layers": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "sliding_window": 131072,
        "use_sliding_window": False,
        "max_window_layers": 28,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
    }
    m = from_hf_config(cfg, "Qwen2.5-7B-Instruct")
    assert m.id == "qwen2.5-7b-instruct"
    assert m.head_dim == 128 and m.attention_bias and m.sliding_window is None


def test_qwen_moe_non_leading_dense_layers_are_counted():
    cfg = _cfg("qwen3-235b-a22b")
    cfg["mlp_only_layers"] = [10, 20]
    m = from_hf_config(cfg, "x")
    assert m.moe.first_dense_layers == 2 and m.num_moe_layers == 92
    cfg = _cfg("qwen3-235b-a22b")
    cfg["decoder_sparse_step"] = 2
    assert from_hf_config(cfg, "x").num_moe_layers == 47


def test_mistral_sliding_window_applies_to_every_layer():
    cfg = {
        "architectures": ["MistralForCausalLM"],
        "model_type": "mistral",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "sliding_window": 4096,
        "max_position_embeddings": 32768,
    }
    m = from_hf_config(cfg, "mistral-7b-v0.1")
    assert (m.sliding_window.window, m.sliding_window.num_layers) == (4096, 32)
    assert m.tie_embeddings is False


def test_unknown_architecture_best_effort_and_failure():
    cfg = {
        "architectures": ["SomethingNewForCausalLM"],
        "hidden_size": 2048,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 5632,
        "vocab_size": 50000,
        "tie_word_embeddings": True,
    }
    m = from_hf_config(cfg, "new")
    assert (m.num_kv_heads, m.head_dim, m.attention, m.moe) == (16, 128, "gqa", None)
    with pytest.raises(PlannerError) as exc:
        from_hf_config({"architectures": ["BertModel"], "hidden_size": 768}, "bert")
    assert exc.value.field == "config.json.num_hidden_layers"


def test_text_config_nesting_step3_like():
    text = {
        "model_type": "step3_text",
        "hidden_size": 7168,
        "intermediate_size": 18432,
        "num_attention_heads": 64,
        "num_attention_groups": 1,
        "num_hidden_layers": 61,
        "head_dim": 256,
        "vocab_size": 128815,
        "moe_num_experts": 48,
        "moe_top_k": 3,
        "moe_intermediate_size": 5120,
        "share_expert_dim": 5120,
        "moe_layers_enum": ",".join(str(i) for i in range(4, 61)),
    }
    cfg = {
        "architectures": ["Step3VLForConditionalGeneration"],
        "model_type": "step3_vl",
        "text_config": text,
        "vision_config": {"hidden_size": 1792},
    }
    skip = {"id", "name", "source", "vision_encoder"}
    imported = from_hf_config(cfg, "step-3")
    assert imported.model_dump(exclude=skip) == load_model("step-3").model_dump(exclude=skip)
    assert imported.vision_encoder  # the language model is planned; the vision encoder is named as not modelled


# ---------------------------------------------------------------- errors


def test_unknown_id_suggests_close_match():
    with pytest.raises(PlannerError) as exc:
        load_model("llama-3.1-70")
    assert "did you mean" in str(exc.value)
    assert "llama-3.1-70b" in str(exc.value)
    assert exc.value.field == "model"


def test_invalid_json_is_a_planner_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PlannerError):
        load_model(tmp_path)


LLAMA4 = {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4",
          "text_config": {"hidden_size": 5120, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
                          "num_hidden_layers": 48, "num_local_experts": 128, "num_experts_per_tok": 1,
                          "interleave_moe_layer_step": 2, "num_attention_heads": 40, "num_key_value_heads": 8,
                          "head_dim": 128, "vocab_size": 202048, "model_type": "llama4_text"}}


def test_llama4_interleaves_moe_layers_with_a_shared_expert_and_wider_dense_layers(tmp_path):
    """Llama-4 Maverick (its config.json's shapes): MoE on every 2nd layer with 128 routed experts of width 8,192
    plus one shared expert of that width; the other 24 layers dense with intermediate_size_mlp 16,384. By hand:
    ~400.7 B parameters (Meta: 400 B), not the 778 B of every layer MoE."""
    import json

    p = tmp_path / "meta-llama--Llama-4-Maverick-17B-128E-Instruct_config.json"
    p.write_text(json.dumps(LLAMA4))
    m = load_model(p)
    h, v, L = 5120, 202048, 48
    attn = h * 40 * 128 * 2 + h * 8 * 128 * 2  # q and o, k and v
    ffn = 3 * h * 8192
    total = 2 * v * h + L * attn + 24 * 3 * h * 16384 + 24 * (128 * ffn + ffn)
    assert m.num_moe_layers == 24 and m.num_dense_layers == 24 and m.intermediate_size == 16384
    assert m.moe.num_shared_experts == 1 and m.moe.shared_intermediate_size == 8192
    assert m.total_params == pytest.approx(total, rel=0.002)
    assert 395e9 < m.total_params < 405e9
    assert m.id == "meta-llama--llama-4-maverick-17b-128e-instruct"  # the file's name, not its folder's


def test_nemotron_h_blocks_by_hand(tmp_path):
    """Nemotron-H: each block is one Mamba2 mixer (M), attention mixer (*), MoE (E) or MLP (-); relu2 FFNs have two
    matrices; a latent MoE runs its experts on a projection of the hidden state. Every count by hand."""
    import json

    cfg = {"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "hidden_size": 64,
           "num_hidden_layers": 6, "hybrid_override_pattern": "MEM*EM", "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100, "intermediate_size": 32,
           "mamba_num_heads": 8, "mamba_head_dim": 16, "ssm_state_size": 32, "n_groups": 2, "conv_kernel": 4,
           "mamba_ssm_cache_dtype": "float32", "mlp_hidden_act": "relu2", "n_routed_experts": 4,
           "num_experts_per_tok": 2, "moe_intermediate_size": 24, "moe_shared_expert_intermediate_size": 48,
           "n_shared_experts": 1, "moe_latent_size": 16, "time_step_limit": [0.0, float("inf")]}
    p = tmp_path / "nemotron_config.json"
    p.write_text(json.dumps(cfg))  # Infinity, as Hugging Face writes it
    m = load_model(p)
    assert (m.num_layers, m.num_full_attention_layers, m.linear_attention.num_layers) == (4, 1, 3)
    assert (m.num_ffn_layers, m.num_moe_layers, m.num_dense_layers, m.mlp_gated) == (2, 2, 0, False)
    # Mamba2 block: in_proj 64 x (2*128 + 2*2*32 + 8), conv (128 + 128) x 4, out_proj 128 x 64, A/D/dt 24, norm 128
    mamba = 64 * (256 + 128 + 8) + 256 * 4 + 128 * 64 + 24 + 128
    attention = 64 * (4 + 4) * 16 + 4 * 16 * 64
    experts = 4 * 2 * 16 * 24  # relu2: up and down, on the 16-wide latent
    dense_per_moe = 2 * 64 * 48 + 2 * 64 * 16  # the shared expert on the hidden state, the latent projections
    assert m.total_params == 3 * mamba + attention + 2 * (experts + dense_per_moe) + 2 * 100 * 64
    # state per sequence: 3 blocks x (8 heads x 16 x 32 + (128 + 2*2*32) x 3) fp32
    assert m.state_bytes_per_sequence == 3 * (8 * 16 * 32 + 256 * 3) * 4
    assert m.kv_elems_per_token_per_layer * m.num_layers == 2 * 2 * 16  # one attention block


def test_nas_blocks_by_hand(tmp_path):
    """Llama-Nemotron NAS (DeciLM block_configs): attention layers are the blocks with attention (KV heads = heads /
    n_heads_in_group), FFN layers the blocks with an FFN at their mean width (DeciLM: 2/3 of ffn_mult x hidden, up
    to a multiple of 256), so the weights are exact (up to the mean's rounding); a block replaced by a linear layer is refused by name."""
    import json

    def block(group, mult):
        return {"attention": {"n_heads_in_group": group, "no_op": group is None, "replace_with_linear": False},
                "ffn": {"ffn_mult": mult, "no_op": mult is None, "replace_with_linear": False}}

    cfg = {"architectures": ["DeciLMForCausalLM"], "model_type": "nemotron-nas", "hidden_size": 768,
           "num_hidden_layers": 4, "num_attention_heads": 6, "num_key_value_heads": None, "intermediate_size": None,
           "vocab_size": 100, "block_configs": [block(3, 1.0), block(None, 2.0), block(3, None), block(None, 1.5)]}
    p = tmp_path / "nas_config.json"
    p.write_text(json.dumps(cfg))
    m = load_model(p)
    widths = [512, 1024, 768]  # 2/3 x (1.0, 2.0, 1.5) x 768 = 512, 1,024, 768: already multiples of 256
    assert (m.num_layers, m.num_ffn_layers, m.num_kv_heads, m.head_dim) == (2, 3, 2, 128)
    assert m.intermediate_size == sum(widths) / 3 == 768
    attention = 768 * (6 + 2 + 2) * 128 + 6 * 128 * 768
    assert m.total_params == 2 * attention + 3 * 768 * sum(widths) + 2 * 100 * 768
    assert m.kv_elems_per_token_per_layer * m.num_layers == 2 * 2 * 2 * 128  # two attention blocks
    cfg["block_configs"][1]["ffn"]["replace_with_linear"] = True
    p.write_text(json.dumps(cfg))
    with pytest.raises(PlannerError, match="linear stand-in") as exc:
        load_model(p)
    assert exc.value.field == "config.json.block_configs"


def test_gemma4_shapes_by_hand(tmp_path):
    """Gemma-4: windowed layers keep head_dim / num_key_value_heads, the global ones take global_head_dim /
    num_global_key_value_heads and (attention_k_eq_v) no value projection; the MoE block's dense MLP is a shared
    expert of intermediate_size. Every count by hand; layers sharing another's KV cache are refused by name."""
    import json

    cfg = {"architectures": ["Gemma4ForCausalLM"], "model_type": "gemma4_text", "hidden_size": 64,
           "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
           "global_head_dim": 32, "num_global_key_value_heads": 1, "attention_k_eq_v": True, "sliding_window": 8,
           "layer_types": ["sliding_attention"] * 3 + ["full_attention"], "intermediate_size": 48,
           "num_experts": 8, "top_k_experts": 2, "moe_intermediate_size": 24, "enable_moe_block": True,
           "vocab_size": 100, "tie_word_embeddings": True, "num_kv_shared_layers": 0}
    p = tmp_path / "gemma_config.json"
    p.write_text(json.dumps(cfg))
    m = load_model(p)
    window = 64 * (4 + 2 * 2) * 16 + 4 * 16 * 64  # q, k, v and o at 16-wide heads
    full = 64 * (4 + 1) * 32 + 4 * 32 * 64  # q and one k (the values are the keys) at 32-wide heads, o
    ffn = 8 * 3 * 64 * 24 + 3 * 64 * 48  # experts and the dense MLP beside them
    assert m.total_params == 3 * window + full + 4 * ffn + 100 * 64
    assert (m.kv_elems_per_token_per_window_layer, m.kv_elems_per_token_per_full_layer) == (2 * 2 * 16, 1 * 32)
    assert m.kv_elems_per_token_per_layer * m.num_layers == 3 * 64 + 32
    p.write_text(json.dumps({**cfg, "num_kv_shared_layers": 2}))
    with pytest.raises(PlannerError) as exc:
        load_model(p)
    assert exc.value.field == "config.json.num_kv_shared_layers"


def test_kimi_linear_blocks_by_hand(tmp_path):
    """Kimi Linear (Kimi-K3): `linear_attn_config` names the KDA layers (1-based) and their heads; the rest are
    MLA, gated on their output when mla_use_output_gate; a latent MoE (routed_expert_hidden_size) runs its experts
    on a projection of the hidden state, its shared experts (num_shared_experts) on the hidden state. By hand."""
    import json

    cfg = {"architectures": ["KimiLinearForCausalLM"], "model_type": "kimi_linear", "hidden_size": 64,
           "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 100,
           "intermediate_size": 96, "first_k_dense_replace": 1, "moe_intermediate_size": 24, "num_experts": 8,
           "num_experts_per_token": 2, "num_shared_experts": 2, "routed_expert_hidden_size": 32,
           "kv_lora_rank": 16, "q_lora_rank": 24, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8,
           "mla_use_output_gate": True,
           "linear_attn_config": {"kda_layers": [1, 2, 3], "full_attn_layers": [4], "num_heads": 4, "head_dim": 8,
                                  "short_conv_kernel_size": 4, "use_full_rank_gate": True}}
    p = tmp_path / "kimi_config.json"
    p.write_text(json.dumps(cfg))
    m = load_model(p)
    assert (m.num_layers, m.num_full_attention_layers, m.linear_attention.num_layers) == (4, 1, 3)
    assert (m.linear_attention.kind, m.moe.latent_size, m.moe.num_shared_experts, m.attn_output_gate) == ("kda", 32, 2, True)
    # KDA layer, P = 4 heads x 8 = 32: q, k, v and the full-rank gate 4 x 64 x 32; decay f_a 64 x 8, f_b 8 x 32 and
    # its per-channel bias 32; beta 64 x 4; conv 3 x 32 x 4; out_proj 32 x 64; A_log 4; the head norm 8
    kda = 4 * 64 * 32 + 64 * 8 + 8 * 32 + 32 + 64 * 4 + 3 * 32 * 4 + 32 * 64 + 4 + 8
    # MLA layer: q 64 x 24 + 24 x 4 x 12; kv 64 x (16 + 4) + 16 x 4 x (8 + 8); o 4 x 8 x 64, and its gate as wide
    mla = 64 * 24 + 24 * 4 * 12 + 64 * 20 + 16 * 4 * 16 + 2 * 4 * 8 * 64
    experts = 3 * 32 * 24  # on the 32-wide latent
    moe_dense = 2 * 3 * 64 * 24 + 2 * 64 * 32  # two shared experts on the hidden state, the latent projections
    dense = 3 * 64 * 96  # the first layer's dense FFN
    assert m.total_params == 3 * kda + mla + dense + 3 * (8 * experts + moe_dense) + 2 * 100 * 64
    assert m.active_params == 3 * kda + mla + dense + 3 * (2 * experts + moe_dense) + 100 * 64
    # state per sequence: 3 layers x (4 heads x 8 x 8 + 3 x 32 x 3 conv inputs) fp32; KV: one MLA layer, latent + rope
    assert m.state_bytes_per_sequence == 3 * (4 * 8 * 8 + 96 * 3) * 4
    assert m.kv_elems_per_token_per_layer * m.num_layers == 16 + 4
    # the low-rank output gate of Kimi-Linear-48B: through a head_dim bottleneck, as the decay
    cfg["linear_attn_config"]["use_full_rank_gate"] = False
    p.write_text(json.dumps(cfg))
    low = load_model(p)
    assert m.total_params - low.total_params == 3 * (64 * 32 - 8 * (64 + 32))
    cfg["linear_attn_config"]["kda_layers"] = [1, float("inf")]  # a damaged layer list: refused by field
    p.write_text(json.dumps(cfg))
    with pytest.raises(PlannerError) as exc:
        load_model(p)
    assert exc.value.field == "config.json.linear_attn_config.kda_layers"


# ---------------------------------------------------------------- linear-attention hybrids (Gated DeltaNet)

GDN_CONFIG = {
    "architectures": ["Qwen3_5MoeForConditionalGeneration"],
    "text_config": {"model_type": "qwen3_5_moe_text", "hidden_size": 64, "num_hidden_layers": 4,
                    "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
                    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "attn_output_gate": True,
                    "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 8,
                    "linear_value_head_dim": 16, "linear_conv_kernel_dim": 4, "mamba_ssm_dtype": "float32",
                    "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 24,
                    "shared_expert_intermediate_size": 24, "vocab_size": 100, "mtp_num_hidden_layers": 1}}


def test_gated_deltanet_hybrid_by_hand(tmp_path):
    """Three Gated DeltaNet layers and one gated full-attention layer, every count by hand."""
    p = tmp_path / "qwen35-tiny_config.json"
    p.write_text(json.dumps(GDN_CONFIG))
    m = load_model(p)
    la = m.linear_attention
    assert la.num_layers == 3 and m.num_full_attention_layers == 1 and m.attn_output_gate and m.mtp_layers == 1
    # GDN layer: in_proj 64 x (2*2*8 + 2*4*16 + 2*4) = 64 x 168; conv (32 + 64) x 4; out_proj 64 x 64; A, dt 8; norm 16
    gdn = 64 * 168 + 96 * 4 + 64 * 64 + 8 + 16
    assert la.layer_params(64) == gdn
    # full layer: q and its gate 64 x 2 x 4 x 32, k and v 64 x 2 x 2 x 32, o 4 x 32 x 64
    full = 64 * 256 + 64 * 128 + 128 * 64
    assert m.full_attn_params_per_layer == full
    ffn = 8 * 3 * 64 * 24 + 3 * 64 * 24  # routed + shared, per layer
    assert m.total_params == 3 * gdn + full + 4 * ffn + 2 * 100 * 64
    # KV: only the full layer, 2 x 2 heads x 32; state: 3 layers x (4 x 8 x 16 + 96 x 3) fp32 elements
    assert m.kv_elems_per_token_per_layer * m.num_layers == 2 * 2 * 32
    assert m.state_bytes_per_sequence == 3 * (4 * 8 * 16 + 96 * 3) * 4


def test_qwen3_next_marks_every_fourth_layer_full_without_layer_types():
    cfg = dict(GDN_CONFIG["text_config"], model_type="qwen3_next", architectures=["Qwen3NextForCausalLM"],
               full_attention_interval=4, num_hidden_layers=8)
    del cfg["layer_types"], cfg["attn_output_gate"]
    d = arch_dict_from_hf(cfg, "qwen3-next-tiny")
    assert d["linear_attention"]["num_layers"] == 6 and d["attn_output_gate"]


def test_unknown_layer_kinds_are_refused():
    cfg = dict(GDN_CONFIG["text_config"], layer_types=["linear_attention", "lightning", "full_attention", "x"])
    with pytest.raises(PlannerError, match="layer kinds"):
        arch_dict_from_hf(cfg, "odd")


def test_deepseek_v4_blocks_by_hand(tmp_path):
    """DeepSeek-V4: per layer a compression ratio (0: window only; the list has one more entry, the MTP module's);
    one KV head whose keys are its values; queries through a latent; a grouped low-rank output; CSA layers pool two
    overlapping series and run an indexer, HCA layers pool one; two hyper-connections per layer. By hand."""
    import json

    h, heads, hd, ql, idx_h, idx_d, g, ol, n = 64, 4, 16, 24, 2, 8, 2, 12, 4
    cfg = {"architectures": ["DeepseekV4ForCausalLM"], "model_type": "deepseek_v4", "hidden_size": h,
           "num_hidden_layers": 4, "num_attention_heads": heads, "num_key_value_heads": 1, "head_dim": hd,
           "q_lora_rank": ql, "qk_rope_head_dim": 4, "o_groups": g, "o_lora_rank": ol, "sliding_window": 8,
           "compress_ratios": [0, 4, 128, 4, 0], "index_topk": 16, "index_n_heads": idx_h, "index_head_dim": idx_d,
           "hc_mult": n, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1,
           "moe_intermediate_size": 24, "vocab_size": 100, "num_nextn_predict_layers": 1, "expert_dtype": "fp4",
           "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}
    p = tmp_path / "v4_config.json"
    p.write_text(json.dumps(cfg))
    m = load_model(p)
    ca = m.compressed_attention
    assert (ca.csa_layers, ca.hca_layers, ca.csa_ratio, ca.hca_ratio, ca.window) == (2, 1, 4, 128, 8)
    assert m.sliding_window is None and m.sparse_attention is None and m.checkpoint.weights == "fp4"
    hc = (2 + n) * n * (n * h + 1) + 3  # the streams' projection to pre, post and mixing weights, biases, scales
    attn = h * ql + ql * heads * hd + h * hd + heads * hd * ol + g * ol * h + heads + 2 * hc
    csa = 4 * h * hd + 4 * 2 * hd + hd + 4 * h * idx_d + 4 * 2 * idx_d + idx_d + ql * idx_h * idx_d + h * idx_h
    hca = 2 * h * hd + 128 * hd + hd
    moe = 8 * 3 * h * 24 + 3 * h * 24
    assert m.total_params == 4 * attn + 2 * csa + hca + 4 * moe + 2 * 100 * h
    # a token adds 2 CSA entries / 4 and 1 HCA entry / 128 of 16 elements over the 4 layers; indexer keys (8 + 4) / 4
    assert m.kv_elems_per_token_per_layer * m.num_layers == pytest.approx(hd * (2 / 4 + 1 / 128))
    assert m.indexer_bytes_per_token == pytest.approx(2 * 12 / 4)
    assert m.window_kv_elems_per_sequence == 8 * hd * 4
    # the same layers in Transformers' newer form: layer_types with compress_rates (its defaults 4 and 128)
    newer = {k: v for k, v in cfg.items() if k != "compress_ratios"}
    newer["layer_types"] = ["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention",
                            "compressed_sparse_attention"]
    p.write_text(json.dumps(newer))
    assert load_model(p).compressed_attention == ca
    cfg["compress_ratios"] = [0, 4, 4, 4, 0]  # one ratio: which layers are CSA and which HCA is not stated
    p.write_text(json.dumps(cfg))
    with pytest.raises(PlannerError) as exc:
        load_model(p)
    assert exc.value.field == "config.json.compress_ratios"
