"""The pocket model's parts: a small tokenizer of our own and the configs of each module.

The parts are the same classes Stable Diffusion uses (CLIPTokenizer, CLIPTextModel, AutoencoderKL,
UNet2DConditionModel, DDIMScheduler), only much smaller, so every function in ``ddim_course``
runs on both without a special case.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from .scenes import COLORS, PATTERNS, SHAPES

MAX_LENGTH = 16  # captions are 7 words; with start and end tokens 9 tokens
SPECIAL = ["<|startoftext|>", "<|endoftext|>"]
EXTRA_WORDS = ["on", "background", "the", "an", "with", "and", "of", "photo", "image", "picture"]


def grammar_words() -> list[str]:
    """Every word the caption grammar uses, plus a few common ones."""
    words = ["a", *COLORS, *SHAPES, *PATTERNS, *EXTRA_WORDS]
    return list(dict.fromkeys(words))


def build_tokenizer() -> CLIPTokenizer:
    """A CLIP BPE tokenizer whose vocabulary has one token per grammar word and every ASCII letter.

    The merges are learned here, deterministically, on the grammar's words. Words outside
    the grammar fall apart into letters (unknown symbols become ``<|endoftext|>``), so any prompt
    tokenizes; the model simply never saw those tokens in training.
    """
    vocab, merges = _bpe_vocab_and_merges()
    try:
        tok = CLIPTokenizer(vocab=vocab, merges=merges)  # transformers 5
    except TypeError:  # transformers 4 (Colab's, for a while) reads the classic files only
        with tempfile.TemporaryDirectory() as folder:
            _write_classic_files(vocab, merges, Path(folder))
            tok = CLIPTokenizer(vocab_file=f"{folder}/vocab.json", merges_file=f"{folder}/merges.txt")
    tok.model_max_length = MAX_LENGTH
    return tok


def _bpe_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn BPE merges on the grammar's words until each word is one token (ties broken by name)."""
    letters = [chr(c) for c in range(33, 127)]
    vocab: dict[str, int] = {}
    for token in [*SPECIAL, *letters, *(ch + "</w>" for ch in letters)]:
        vocab.setdefault(token, len(vocab))
    words = [list(w[:-1]) + [w[-1] + "</w>"] for w in grammar_words()]
    merges: list[tuple[str, str]] = []
    while True:
        counts: dict[tuple[str, str], int] = {}
        for w in words:
            for pair in zip(w, w[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            return vocab, merges
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))
        words = [_merge(w, best) for w in words]


def _merge(word: list[str], pair: tuple[str, str]) -> list[str]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def save_tokenizer_files(tokenizer: CLIPTokenizer, folder: str | Path) -> None:
    """Also write ``vocab.json`` and ``merges.txt`` (the classic CLIP files older transformers read).

    Both are taken from the tokenizer itself, so they always agree with its ``tokenizer.json``.
    """
    if not hasattr(tokenizer, "encoder"):  # transformers 5: read them off the tokenizers backend
        model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
        merges = [m.split(" ") if isinstance(m, str) else m for m in model["merges"]]
        _write_classic_files(model["vocab"], merges, Path(folder))
    else:  # transformers 4's Python CLIPTokenizer keeps them as attributes
        merges = sorted(tokenizer.bpe_ranks, key=tokenizer.bpe_ranks.get)
        _write_classic_files(tokenizer.encoder, merges, Path(folder))


def save_text_encoder_with_prefix(folder: str | Path) -> None:
    """Rewrite ``model.safetensors`` with its keys under ``text_model.``, the layout of Stable Diffusion's own
    checkpoints. transformers 5 saves a CLIPTextModel without that prefix and reads both layouts; transformers 4
    reads only the prefixed one (and otherwise starts from random weights, with a warning)."""
    from safetensors.torch import load_file, save_file

    path = Path(folder) / "model.safetensors"
    weights = load_file(path)
    if all(k.startswith("text_model.") for k in weights):
        return
    weights = {k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in weights.items()}
    save_file(weights, path, metadata={"format": "pt"})


def _write_classic_files(vocab: dict[str, int], merges, folder: Path) -> None:
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def text_encoder_config(vocab_size: int, *, tiny: bool = False) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32 if tiny else 64,
        intermediate_size=64 if tiny else 256,
        num_hidden_layers=1 if tiny else 2,
        num_attention_heads=2 if tiny else 4,
        max_position_embeddings=MAX_LENGTH,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        projection_dim=32 if tiny else 64,
    )


def make_text_encoder(vocab_size: int, *, tiny: bool = False) -> CLIPTextModel:
    return CLIPTextModel(text_encoder_config(vocab_size, tiny=tiny))


def make_vae(*, tiny: bool = False) -> AutoencoderKL:
    """A fully convolutional AutoencoderKL: 4 latent channels, 4x smaller per side (64x64 -> 16x16)."""
    channels = (8, 16, 16) if tiny else (32, 64, 64)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=channels,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        mid_block_add_attention=False,
    )


def make_unet(*, tiny: bool = False, cross_attention_dim: int = 64, attention_16: bool = False) -> UNet2DConditionModel:
    """A UNet on 16x16 latents; cross-attention at 8x8 and 4x4 only (attention at 16x16 costs about 2x a training
    step on the CPU). ``attention_16=True`` attends at 16x16 as well, as Stable Diffusion attends at its latent's
    full 64x64: a layout to try on a GPU (``tools/pocket_gpu``), not the shipped one."""
    channels = (16, 32, 32) if tiny else (64, 96, 128)
    if attention_16:
        first_down, last_up = "CrossAttnDownBlock2D", "CrossAttnUpBlock2D"
    else:
        first_down, last_up = "DownBlock2D", "UpBlock2D"
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=channels,
        down_block_types=(first_down, "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", last_up),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=8 if tiny else 32,
        norm_num_groups=8 if tiny else 32,
    )


def make_scheduler() -> DDIMScheduler:
    """Stable Diffusion's own noise schedule, as SD 1.5 ships it."""
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
    )
