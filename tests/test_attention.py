"""Prompt-to-prompt attention control, direct inversion and the pie-tiny benchmark (notebook 07)."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from ddim_course import edit, invert, reconstruct
from ddim_course import editing as editing_module
from ddim_course.attention import (
    AttentionMaps,
    PromptToPrompt,
    _Run,
    align_tokens,
    blend_mask,
    blend_positions,
    controlled,
    cross_attention_maps,
    token_ids,
    token_words,
)
from ddim_course.editing import edit_branches, unet_rows_per_step
from ddim_course.inversions import METHODS
from ddim_course.metrics import pie_background, pie_unedited_mask, ssim
from ddim_course.pocket.pie_tiny import KINDS, pie_tiny, score
from ddim_course.pocket.scenes import draw_scene, edit_scene

from .conftest import tiny_pipeline

SRC = "a red circle on a striped background"
TGT = "a blue circle on a striped background"
NO_CONTROL = PromptToPrompt(cross_replace_steps=0, self_replace_steps=0, blend=False)


def _image(seed=0):
    return draw_scene("red", "circle", "striped", seed=seed).pil()


def _state(pipe):
    return {k: v.clone() for k, v in pipe.unet.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def sd_shaped_pipeline():
    """A tiny random pipeline laid out like SD 1.5: 77-token prompts, cross-attention at the latent's own resolution
    and coarser, a plain block last."""
    from diffusers import UNet2DConditionModel

    from ddim_course.pocket.model import build_tokenizer
    from ddim_course.pocket.model import text_encoder_config as config
    from tests.conftest import _assemble

    torch.manual_seed(0)
    tok = build_tokenizer()
    tok.model_max_length = 77
    from transformers import CLIPTextModel

    cfg = config(len(tok), tiny=True)
    cfg.max_position_embeddings = 77
    text = CLIPTextModel(cfg)
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32, 32),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cfg.hidden_size,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    return _assemble(tok, text, unet, "epsilon")


# ---------------------------------------------------------------------------------------------- processors
def test_processors_are_installed_for_one_call_and_the_pipeline_is_unchanged_after(pipe):
    before, state = dict(pipe.unet.attn_processors), _state(pipe)
    seen = []
    original = editing_module.ddim_step

    def spy(*a, **k):
        seen.append({type(p).__name__ for p in pipe.unet.attn_processors.values()})
        return original(*a, **k)

    editing_module.ddim_step = spy
    try:
        edit(pipe, _image(), SRC, TGT, num_inference_steps=4, start_step=0, control="prompt-to-prompt", progress=False)
    finally:
        editing_module.ddim_step = original
    assert seen and all(s == {"_Processor"} for s in seen)  # installed during the call
    after = pipe.unet.attn_processors
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)
    assert _same_state(state, _state(pipe))


def test_processors_are_removed_when_the_call_raises(pipe, monkeypatch):
    before = dict(pipe.unet.attn_processors)

    def boom(*a, **k):
        raise RuntimeError("stop in the middle")

    monkeypatch.setattr(editing_module, "ddim_step", boom)
    with pytest.raises(RuntimeError, match="stop in the middle"):
        edit(pipe, _image(), SRC, TGT, num_inference_steps=4, start_step=0, control="prompt-to-prompt", progress=False)
    after = pipe.unet.attn_processors
    assert all(after[k] is before[k] for k in before)
    run = _Run(2, None, None)
    with pytest.raises(ValueError):
        with controlled(pipe, run):
            raise ValueError("inside")
    assert all(pipe.unet.attn_processors[k] is before[k] for k in before)


# ---------------------------------------------------------------------------------------------- token alignment
def test_alignment_on_the_pocket_tokenizer(pipe):
    ids = token_ids(pipe, SRC)
    assert len(ids) == pipe.tokenizer.model_max_length == 16
    assert token_words(pipe, SRC)[1:-1] == SRC.split()
    a = align_tokens(pipe, SRC, TGT)
    assert a.changed_source == [2] and a.changed_target == [2]
    assert torch.equal(a.mapper, torch.eye(16)) and not a.own.any()  # word swap: blue takes red's map
    b = align_tokens(pipe, SRC, "a red square on a striped background")
    assert b.changed_source == b.changed_target == [3]
    c = align_tokens(pipe, SRC, "a red circle on a dotted background")
    assert c.changed_source == c.changed_target == [6]


def test_alignment_on_a_77_token_tokenizer_with_a_word_of_several_tokens():
    pipe = sd_shaped_pipeline()
    src, tgt = "a photo of a cat", "a photo of a tiger"  # "tiger" is not in the vocabulary: it falls into letters
    assert len(token_ids(pipe, src)) == 77
    a = align_tokens(pipe, src, tgt)
    n_cat = len(a.changed_source)
    n_tiger = len(a.changed_target)
    assert n_tiger > n_cat >= 1
    rows = a.mapper[a.changed_target]
    # the tiger tokens share cat's maps (Hertz et al.'s rule): each takes their sum over n_tiger, so "tiger" draws
    # as much attention as "cat" did; each took their mean before, which gave the word n_tiger / n_cat times as much
    assert torch.allclose(rows.sum(1), torch.full((n_tiger,), n_cat / n_tiger))
    assert torch.allclose(rows[:, a.changed_source].sum(0), torch.ones(n_cat))
    assert (rows[:, a.changed_source] > 0).all()
    back = align_tokens(pipe, tgt, src)  # and the other way: the cat tokens share tiger's maps summed
    assert torch.allclose(
        back.mapper[back.changed_target][:, back.changed_source], torch.full((n_cat, n_tiger), 1 / n_cat)
    )
    assert torch.allclose(a.mapper[1, 1], torch.tensor(1.0))  # "a" stays "a"
    ins = align_tokens(pipe, "a photo of a woman", "a photo of a woman with a cat")
    assert ins.own.any() and not ins.changed_source[:1] == [1]  # inserted words keep their own maps


def test_two_neighbouring_words_swapped_map_word_to_word_when_one_has_several_tokens(pipe):
    """difflib sees "red circle" -> "big square" as one block; with 2 tokens against 4 ("big" falls into letters)
    every new token took a quarter of each old word's map: "square" got a quarter of the colour's."""
    sd = sd_shaped_pipeline()
    src = "a red circle on a striped background"
    for p, tgt in ((sd, "a big square on a striped background"), (pipe, "a blue square on a striped background")):
        a = align_tokens(p, src, tgt)
        words_s, words_t = token_words(p, src), token_words(p, tgt)
        red, circle = words_s.index("red"), words_s.index("circle")
        square = words_t.index("square")
        assert a.mapper[square].nonzero().flatten().tolist() == [circle] and a.mapper[square, circle] == 1
        new_colour = [j for j in a.changed_target if j != square]  # "big" (3 tokens) or "blue"
        assert torch.allclose(a.mapper[new_colour][:, red], torch.full((len(new_colour),), 1 / len(new_colour)))
        assert torch.equal(a.mapper[new_colour][:, circle], torch.zeros(len(new_colour)))
    more = align_tokens(sd, src, "a big blue square on a striped background")  # 2 words for 3: the block as a whole
    assert torch.allclose(more.mapper[more.changed_target].sum(0)[more.changed_source], torch.ones(2))


def test_alignment_of_prompts_longer_than_the_tokenizer_compares_only_what_the_model_sees(pipe):
    tail = " blue" * 20_000  # cut off by the 16-token tokenizer; compared word by word it took minutes
    a = align_tokens(pipe, SRC + tail, TGT + tail)
    b = align_tokens(pipe, SRC, TGT)
    assert a.changed_source == b.changed_source == [2] and a.changed_target == b.changed_target == [2]
    assert torch.equal(a.mapper, b.mapper) and torch.equal(a.own, b.own)
    hidden = align_tokens(pipe, SRC + tail + " red", SRC + tail + " green")  # a change the model never sees
    assert hidden.changed_source == hidden.changed_target == []
    assert torch.equal(hidden.mapper, torch.eye(16))


def test_blend_words_the_tokenizer_splits_give_all_their_tokens(pipe):
    target = "a red circle on a checkerboard background"  # not a grammar word: it falls into pieces
    ctrl = PromptToPrompt(blend_words=("checkerboard",))  # in the target only: no source positions
    a = align_tokens(pipe, SRC, target)
    source_pos, target_pos = blend_positions(pipe, ctrl, a, SRC, target)
    n = len(pipe.tokenizer("checkerboard", add_special_tokens=False).input_ids)
    assert n > 1 and source_pos == [] and target_pos == list(range(6, 6 + n))
    # "background." is the word "background" and the sign ".": the word's own token, not the full stop's
    assert blend_positions(pipe, PromptToPrompt(blend_words=("background",)), a, SRC, SRC + ".")[1] == [7]


@pytest.mark.parametrize(
    "source, target",
    [
        ("a red circle on a striped background", "a blue circle on a striped background."),
        ("a red circle, on a striped background", "a blue circle on a striped background"),
        ("a red,circle on a striped background", "a blue,circle on a striped background"),
    ],
)
def test_a_sign_in_one_prompt_only_changes_no_word(pipe, source, target):
    a = align_tokens(pipe, source, target)
    assert a.changed_source == [2] and a.changed_target == [2], "only the colour word changed"
    circle = 3  # the shape word takes the source's shape word's map, not a mean with a comma's
    assert a.mapper[circle].tolist() == [1.0 if k == circle else 0.0 for k in range(a.mapper.shape[1])]


def test_a_blend_threshold_of_1_is_refused_it_would_keep_nothing():
    assert blend_mask(torch.rand(1, 4, 4), 0.999).sum() >= 1  # the maximum is always kept below 1
    with pytest.raises(ValueError, match="blend_threshold must be below 1"):
        PromptToPrompt(blend_threshold=1.0)


def test_prompt_to_prompt_and_maps_on_a_latent_that_is_not_square(pipe):
    x = torch.randn(1, 4, 8, 24, generator=torch.Generator().manual_seed(0))
    kw = dict(start_step=0, num_inference_steps=4, progress=False)
    out = edit(pipe, x, SRC, TGT, control=PromptToPrompt(blend_threshold=0.5), output_type="latent", **kw)
    assert out.shape == x.shape and torch.isfinite(out).all()
    maps = cross_attention_maps(pipe, invert(pipe, x, SRC, num_inference_steps=4, progress=False))
    assert {tuple(m.shape[1:]) for m in maps.maps.values()} == {(4, 12), (2, 6)}
    assert maps.word("red").shape == (4, 12)


# ---------------------------------------------------------------------------------------------- edits
def test_cross_attention_replacement_takes_the_source_maps_through_the_mapper(pipe):
    """The shortcut for a word swap of one length (the source rows copied) and the mapper's product agree."""
    torch.manual_seed(0)
    for target in (TGT, "a big blue circle on a striped background"):
        alignment = align_tokens(pipe, SRC, target)
        run = _Run(4, slice(2, 3), slice(3, 4), alignment=alignment, controller=PromptToPrompt(), steps=10)
        probs = torch.rand(4 * 2, 16, alignment.mapper.shape[1]).softmax(-1)  # 4 rows, 2 heads, 16 pixels
        p = probs.view(4, 2, 16, -1)
        src, tgt = p[2:3], p[3:4]
        expected = torch.where(alignment.own, tgt, torch.einsum("bhpk,tk->bhpt", src, alignment.mapper))
        out = run.control(probs.clone(), True, 2).view(4, 2, 16, -1)
        assert torch.allclose(out[3:4], expected, atol=1e-6, rtol=0) and torch.equal(out[:3], p[:3])
        assert (run._mapper(p)[0] is None) == (target == TGT)  # the shortcut is taken for the one-length swap


def test_no_replacement_and_no_blend_is_the_plain_prompt_swap():
    pipe = tiny_pipeline(seed=2).to(torch.float64)  # float64: batches of 4 and 2 round alike to 1e-12
    image = _image()
    inv = invert(pipe, image, SRC, num_inference_steps=6, progress=False)
    swap = edit(
        pipe, None, SRC, TGT, inversion=inv, num_inference_steps=6, start_step=1, output_type="latent", progress=False
    )
    p2p = edit(
        pipe,
        None,
        SRC,
        TGT,
        inversion=inv,
        num_inference_steps=6,
        start_step=1,
        control=NO_CONTROL,
        output_type="latent",
        progress=False,
    )
    assert torch.allclose(swap, p2p, atol=1e-10, rtol=0)
    full = edit(
        pipe,
        None,
        SRC,
        TGT,
        inversion=inv,
        num_inference_steps=6,
        start_step=1,
        control=PromptToPrompt(1.0, 1.0, blend=False),
        output_type="latent",
        progress=False,
    )
    assert not torch.allclose(swap, full, atol=1e-3)  # replacing the attention changes the edit


def test_null_text_with_p2p_and_the_same_prompt_returns_the_reconstruction():
    pipe = tiny_pipeline(seed=2).to(torch.float64)
    nti = METHODS["null-text"](
        pipe, _image(), SRC, num_inference_steps=5, guidance_scale=3.0, inner_steps=2, progress=False
    )
    rec = reconstruct(pipe, nti, output_type="latent", progress=False)
    out = edit(
        pipe,
        None,
        SRC,
        SRC,
        inversion=nti,
        num_inference_steps=5,
        start_step=0,
        guidance_scale=3.0,
        control="prompt-to-prompt",
        output_type="latent",
        progress=False,
    )
    assert torch.allclose(out, rec, atol=1e-10, rtol=0)


def test_null_text_p2p_source_branch_is_the_path_the_inversion_recorded():
    pipe = tiny_pipeline(seed=2).to(torch.float64)
    nti = METHODS["null-text"](
        pipe, _image(), SRC, num_inference_steps=5, guidance_scale=3.0, inner_steps=2, progress=False
    )
    assert len(nti.sampled_latents) == 6 and nti.sampled_latents[-1] is nti.latents[-1]
    # the recorded path is where guided sampling with the learned embeddings goes
    back = reconstruct(pipe, nti, output_type="latent", progress=False)
    assert torch.allclose(nti.sampled_latents[0], back, atol=1e-10, rtol=0)
    assert unet_rows_per_step(nti, 3.0, True) == 3  # no unconditional half for the source branch
    assert unet_rows_per_step(nti, 3.0, True, start_step=1) == 4  # the path is known from step 0 only
    assert unet_rows_per_step(nti, 5.0, True) == 4  # and at the guidance it was learned for
    recorded, unrecorded = [], []
    for inversion, trace in ((nti, recorded), (dataclasses.replace(nti, sampled_latents=None), unrecorded)):
        edit_branches(
            pipe,
            inversion,
            SRC,
            TGT,
            start_step=0,
            guidance_scale=3.0,
            controller=PromptToPrompt(),
            progress=False,
            trace=trace,
        )
    for i, ((src_a, tgt_a), (src_b, tgt_b)) in enumerate(zip(recorded, unrecorded)):
        assert torch.equal(src_a, nti.sampled_latents[5 - i - 1])
        assert torch.allclose(src_a, src_b, atol=1e-10, rtol=0) and torch.allclose(tgt_a, tgt_b, atol=1e-10, rtol=0)


def test_sampled_latents_are_checked_and_kept_by_save(tmp_path):
    pipe = tiny_pipeline(seed=2)
    nti = METHODS["null-text"](
        pipe, _image(), SRC, num_inference_steps=3, guidance_scale=3.0, inner_steps=1, progress=False
    )
    back = type(nti).load(nti.save(tmp_path / "nti.safetensors"), pipe)
    assert all(torch.equal(a, b) for a, b in zip(back.sampled_latents, nti.sampled_latents))
    with pytest.raises(ValueError, match="null-text inversion only"):
        dataclasses.replace(nti, method="ddim", uncond_embeddings=None)
    # a path recorded for other latents or embeddings is not used: the source branch is sampled again
    assert unet_rows_per_step(back, 3.0, True) == 3
    moved = dataclasses.replace(nti, latents=nti.latents[:-1] + [nti.latents[-1] + 0.1])
    retuned = dataclasses.replace(nti, uncond_embeddings=[u + 0.1 for u in nti.uncond_embeddings])
    assert unet_rows_per_step(moved, 3.0, True) == 4 and unet_rows_per_step(retuned, 3.0, True) == 4
    nti.uncond_embeddings[1] = nti.uncond_embeddings[1] * 2  # changed in place, too
    assert unet_rows_per_step(nti, 3.0, True) == 4
    with pytest.raises(ValueError, match="sampled_latents of an Inversion of 3 steps holds 4"):
        dataclasses.replace(nti, sampled_latents=nti.sampled_latents[1:])


def test_direct_inversion_keeps_the_source_branch_on_the_trajectory(pipe):
    inv = METHODS["direct"](pipe, _image(), SRC, num_inference_steps=6, guidance_scale=7.5, progress=False)
    assert inv.method == "direct" and inv.guidance_scale == 7.5
    trace = []
    edit_branches(
        pipe, inv, SRC, TGT, start_step=0, guidance_scale=7.5, controller=PromptToPrompt(), progress=False, trace=trace
    )
    assert len(trace) == 6
    for i, (source, _) in enumerate(trace):
        assert torch.equal(source, inv.latents[6 - i - 1].to(source.dtype))
    # sampling the source prompt back from a direct inversion ends on the clean latent
    back = reconstruct(pipe, inv, output_type="latent", progress=False)
    assert torch.equal(back, inv.latents[0].to(back.dtype))


def test_unet_rows_per_step_counts_the_model_evaluations(pipe):
    rows = []
    handle = pipe.unet.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    try:
        for method in ("ddim", "negative-prompt", "direct"):
            inv = METHODS[method](pipe, _image(), SRC, num_inference_steps=4, guidance_scale=7.5, progress=False)
            for control in (None, "prompt-to-prompt"):
                rows.clear()
                edit(
                    pipe,
                    None,
                    SRC,
                    TGT,
                    inversion=inv,
                    num_inference_steps=4,
                    start_step=0,
                    control=control,
                    progress=False,
                )
                assert sum(rows) == 4 * unet_rows_per_step(inv, 7.5, control is not None), (method, control)
    finally:
        handle.remove()


def test_an_sd_shaped_pipeline_runs_the_whole_edit():
    pipe = sd_shaped_pipeline()
    image = draw_scene("red", "circle", "plain", seed=1).pil()
    for method in ("ddim", "null-text", "negative-prompt", "direct"):
        kw = {"inner_steps": 1} if method == "null-text" else {}
        inv = METHODS[method](
            pipe, image, "a photo of a cat", num_inference_steps=3, guidance_scale=7.5, progress=False, **kw
        )
        out = edit(
            pipe,
            None,
            "a photo of a cat",
            "a photo of a tiger",
            inversion=inv,
            num_inference_steps=3,
            start_step=0,
            control="prompt-to-prompt",
            output_type="latent",
            progress=False,
        )
        assert torch.isfinite(out).all() and out.shape == inv.latents[0].shape


def test_the_map_of_a_word_the_tokenizer_cut_into_pieces_is_the_mean_of_its_pieces():
    pipe = sd_shaped_pipeline()
    image = draw_scene("red", "circle", "plain", seed=1).pil()
    inv = invert(pipe, image, "a photo of a tiger", num_inference_steps=3, progress=False)
    maps = cross_attention_maps(pipe, inv)
    pieces = [i for i, t in enumerate(maps.tokens) if t in set("tiger")]  # not in the vocabulary: it falls into letters
    assert len(pieces) == 5 and pieces == list(range(pieces[0], pieces[0] + 5))
    for side, m in maps.maps.items():
        assert torch.allclose(maps.word("tiger", side), m[pieces].mean(0))
        assert torch.equal(maps.word("Tiger", side), maps.word("tiger", side))  # case is not compared
    assert maps.word_ends[pieces[-1]] and not any(maps.word_ends[p] for p in pieces[:-1])
    for part in ("tige", "iger", "g"):  # pieces of a word are no word, although each is a token or a run of them
        with pytest.raises(
            ValueError, match=rf"'{part}' is not one of the prompt's words \['a', 'photo', 'of', 'a', 'tiger'\]"
        ):
            maps.word(part)
    hand = AttentionMaps(["<s>", "Water", "color", "and", "water", "color", "</s>"], {2: torch.rand(7, 2, 2)})
    assert torch.equal(hand.word("watercolor", occurrence=1), hand.maps[2][[4, 5]].mean(0))
    twice = r"'watercolor' occurs 2 times in the prompt \(tokens \[\[1, 2\], \[4, 5\]\]\)"
    with pytest.warns(UserWarning, match=twice):
        assert torch.allclose(hand.word("watercolor"), hand.maps[2][[1, 2, 4, 5]].mean(0))
    with pytest.raises(ValueError, match="word_ends must be None or one True/False per token"):
        AttentionMaps(["<s>", "a", "</s>"], {2: torch.rand(3, 2, 2)}, word_ends=[True])


def test_negative_prompt_p2p_source_branch_without_its_unconditional_half_is_the_same():
    pipe = tiny_pipeline(seed=2).to(torch.float64)
    npi = METHODS["negative-prompt"](pipe, _image(), SRC, num_inference_steps=4, guidance_scale=7.5, progress=False)
    assert unet_rows_per_step(npi, 7.5, True) == 3
    short, _ = edit_branches(
        pipe, npi, SRC, TGT, start_step=0, guidance_scale=7.5, controller=PromptToPrompt(), progress=False
    )
    # the long way: guided sampling of the source prompt with itself as the negative prompt (two halves a step)
    back = reconstruct(pipe, npi, output_type="latent", progress=False)
    assert torch.allclose(short, back, atol=1e-10, rtol=0)


def test_edit_takes_a_method_name(pipe):
    a = edit(
        pipe,
        _image(),
        SRC,
        TGT,
        inversion="negative-prompt",
        num_inference_steps=4,
        start_step=0,
        output_type="latent",
        progress=False,
    )
    inv = METHODS["negative-prompt"](pipe, _image(), SRC, num_inference_steps=4, guidance_scale=7.5, progress=False)
    b = edit(
        pipe, None, SRC, TGT, inversion=inv, num_inference_steps=4, start_step=0, output_type="latent", progress=False
    )
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(control="attention"), "control must be None"),
        (dict(control=PromptToPrompt(), inversion="edict"), "not built"),
        (dict(control=PromptToPrompt(blend_words=("sky",))), "blend_words"),
        (dict(inversion="nope"), "unknown inversion method"),
        (dict(inversion=3), "inversion must be"),
    ],
)
def test_bad_edit_settings_are_refused(pipe, kwargs, match):
    with pytest.raises(ValueError, match=match):
        edit(pipe, _image(), SRC, TGT, num_inference_steps=3, start_step=0, progress=False, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(cross_replace_steps=2),
        dict(self_replace_steps=-0.1),
        dict(blend_threshold=float("nan")),
        dict(blend_dilation=1.5),
        dict(blend="yes"),
        dict(blend_words="background"),
        dict(blend_keep_words="circle"),
        dict(blend_keep_words=("circle", "")),
        dict(self_replace_max_pixels=0),
    ],
)
def test_bad_controller_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        PromptToPrompt(**kwargs)


def test_controller_settings_take_numpy_and_tensor_numbers_and_lists_of_words():
    p = PromptToPrompt(
        cross_replace_steps=np.float32(0.5),
        self_replace_steps=torch.tensor(0.25),
        blend_dilation=np.int64(2),
        self_replace_max_pixels=torch.tensor(16),
        blend_words=["red", "blue"],
    )
    assert p == PromptToPrompt(0.5, 0.25, blend_dilation=2, self_replace_max_pixels=16, blend_words=("red", "blue"))
    assert type(p.cross_replace_steps) is float and type(p.blend_dilation) is int and hash(p) == hash(p)
    for words in ([], ("red", ""), ("red", 3), {"red"}):
        with pytest.raises(ValueError, match="blend_words|each of blend_words"):
            PromptToPrompt(blend_words=words)


def test_prompt_to_prompt_settings_are_refused_before_the_inversion_runs(pipe, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the inversion ran before the settings were checked")

    for name in ("edict", "null-text"):
        monkeypatch.setitem(METHODS, name, dataclasses.replace(METHODS[name], function=never))
    kw = dict(num_inference_steps=3, start_step=0, progress=False)
    with pytest.raises(ValueError, match="prompt-to-prompt editing from a 'edict' inversion is not built"):
        edit(pipe, _image(), SRC, TGT, inversion="edict", control="prompt-to-prompt", **kw)
    with pytest.raises(ValueError, match=r"none of blend_words \['sky'\] is a word of either prompt"):
        edit(pipe, _image(), SRC, TGT, inversion="null-text", control=PromptToPrompt(blend_words=("sky",)), **kw)
    with pytest.raises(ValueError, match=r"none of blend_keep_words \['sky'\] is a word of either prompt"):
        edit(pipe, _image(), SRC, TGT, inversion="null-text", control=PromptToPrompt(blend_keep_words=("sky",)), **kw)


def test_kept_words_are_taken_out_of_the_blend_mask():
    run = _Run(4, slice(0, 1), slice(1, 2), controller=PromptToPrompt(blend_threshold=0.5, blend_dilation=0), steps=4)
    run.step, run.latent_hw = 3, (4, 4)
    edited = torch.zeros(1, 2, 2)
    edited[0, :, 1] = 1  # the right half
    kept = torch.zeros(1, 2, 2)
    kept[0, 0, :] = 1  # the top half
    run.blend_maps = {"target": {2: edited}}
    assert run.mask((4, 4))[0, 0].tolist() == [[0, 0, 1, 1]] * 4
    run.keep_maps = {"source": {2: kept}}
    assert run.mask((4, 4))[0, 0].tolist() == [[0, 0, 0, 0]] * 2 + [[0, 0, 1, 1]] * 2  # right half, less the top


def test_a_background_edit_with_the_object_kept_leaves_the_object_to_the_source_branch(pipe):
    src, tgt = "a red circle on a striped background", "a red circle on a dotted background"
    kw = dict(inversion="direct", num_inference_steps=4, start_step=0, output_type="latent", progress=False)
    keep = PromptToPrompt(blend_words=("background",), blend_keep_words=("red", "circle"), blend_start=0)
    plain = PromptToPrompt(blend_words=("background",), blend_start=0)
    with_keep, without = (edit(pipe, _image(), src, tgt, control=c, **kw) for c in (keep, plain))
    assert with_keep.shape == without.shape and torch.isfinite(with_keep).all()
    assert not torch.equal(with_keep, without)  # the kept words changed the mask, so the edit


def test_edit_takes_a_fitted_inversions_guidance_and_names_a_prompt_it_was_not_made_with(pipe):
    nt = METHODS["null-text"](pipe, _image(), SRC, num_inference_steps=3, guidance_scale=3, progress=False)
    kw = dict(inversion=nt, num_inference_steps=3, start_step=0, output_type="latent", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no guidance warning: the default is the guidance it was fitted at
        assert torch.equal(edit(pipe, None, SRC, TGT, **kw), edit(pipe, None, SRC, TGT, guidance_scale=3, **kw))
    with pytest.warns(UserWarning, match="made with the prompt 'a red circle on a striped background' but source"):
        edit(pipe, None, "a blue square on a plain background", TGT, guidance_scale=3, **kw)


def test_a_batch_inverted_with_a_prompt_per_image_is_named_and_refused_by_prompt_to_prompt(pipe):
    other = "a green square on a dotted background"
    inv = invert(pipe, [_image(0), _image(5)], [SRC, other], num_inference_steps=3, progress=False)
    kw = dict(inversion=inv, num_inference_steps=3, start_step=0, output_type="latent", progress=False)
    with pytest.raises(ValueError, match=rf"one source prompt, .*{other!r} for image 1\): invert and edit each image"):
        edit(pipe, None, SRC, TGT, control="prompt-to-prompt", **kw)  # image 1's source branch would not retrace it
    with pytest.raises(ValueError, match="inverted with prompts of their own"):
        edit_branches(pipe, inv, SRC, TGT, start_step=0, guidance_scale=1.0, controller=None, progress=False)
    with pytest.warns(UserWarning, match=rf"made with the prompt {other!r} for image 1 \(of 2\) but source_prompt"):
        edit(pipe, None, SRC, TGT, **kw)  # the plain swap runs no source branch: a warning is enough
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        edit(pipe, None, [SRC, other], TGT, **kw)  # each image's own prompt: quiet
        same = invert(pipe, [_image(0), _image(5)], [SRC, SRC], num_inference_steps=3, progress=False)
        edit(pipe, None, SRC, TGT, control="prompt-to-prompt", **{**kw, "inversion": same})  # one prompt for both


def test_an_edit_from_an_inversion_of_another_picture_says_the_image_is_not_used(pipe):
    inv = invert(pipe, _image(0), SRC, num_inference_steps=3, progress=False)
    kw = dict(inversion=inv, num_inference_steps=3, start_step=0, output_type="latent", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the picture it was made from (or none) is quiet
        same = edit(pipe, _image(0), SRC, TGT, **kw)
        assert torch.equal(same, edit(pipe, None, SRC, TGT, **kw))
    with pytest.warns(UserWarning, match="image is not the picture this inversion was made from"):
        other = edit(pipe, _image(5), SRC, TGT, **kw)
    assert torch.equal(other, same)  # the edit is the inversion's picture's, as the warning says


# ---------------------------------------------------------------------------------------------- maps and mask
def test_cross_attention_maps_have_one_map_per_token_and_resolution(pipe):
    inv = invert(pipe, _image(), SRC, num_inference_steps=3, progress=False)
    maps = cross_attention_maps(pipe, inv)
    assert maps.tokens[1:-1] == SRC.split()
    assert sorted(maps.maps) == [4, 8]
    for side, m in maps.maps.items():
        assert m.shape == (len(maps.tokens), side, side) and torch.isfinite(m).all()
    assert maps.word("circle").shape == (8, 8)
    with pytest.raises(ValueError, match="not one of the prompt's words"):
        maps.word("tiger")
    with pytest.raises(ValueError, match="word must be a string"):
        maps.word(5)
    assert torch.equal(maps.word("circle", side=np.int64(8)), maps.word("circle"))
    for side in ("8", 8.0, True, [8]):
        with pytest.raises(ValueError, match=r"no maps at .*the UNet attends at \[4, 8\]: pass side as one of"):
            maps.word("circle", side=side)
    assert torch.equal(cross_attention_maps(pipe, inv, prompt=[SRC]).word("circle"), maps.word("circle"))
    for bad in (123, [], {"a": 1}):
        with pytest.raises(ValueError, match="prompt must be a string"):
            cross_attention_maps(pipe, inv, prompt=bad)


def test_blend_mask_by_hand():
    m = torch.zeros(1, 4, 4)
    m[0, 1, 1], m[0, 2, 2] = 1.0, 0.4
    mask = blend_mask(m + 0.5, 0.3)  # the floor comes off: only the two bright pixels pass 0.3
    assert mask.shape == (1, 1, 4, 4) and mask.sum() == 2 and mask[0, 0, 1, 1] == 1 and mask[0, 0, 2, 2] == 1
    assert blend_mask(m, 0.5).sum() == 1
    grown = blend_mask(m, 0.5, dilation=1)
    assert grown.sum() == 9  # the 3 x 3 block around the peak
    assert blend_mask(m, 0.5, size=(8, 8)).shape == (1, 1, 8, 8)
    assert torch.equal(blend_mask(m, np.float32(0.5), dilation=np.int64(1)), grown)


@pytest.mark.parametrize(
    "maps, kwargs, match",
    [
        (torch.full((1, 4, 4), float("nan")), {}, "NaN or infinite"),
        (torch.rand(4, 4), {}, r"shape \(batch, h, w\), got \(4, 4\)"),
        ("maps", {}, "got str"),
        (torch.rand(1, 4, 4, dtype=torch.complex64), {}, "real tensor"),
        (torch.rand(1, 4, 4), {"threshold": float("nan")}, r"threshold must be a number in \[0, 1\]"),
        (torch.rand(1, 4, 4), {"threshold": 2}, r"threshold must be a number in \[0, 1\]"),
        (torch.rand(1, 4, 4), {"dilation": -1}, r"dilation must be a whole number in \[0, 8\]"),
        (torch.rand(1, 4, 4), {"dilation": 1.5}, r"dilation must be a whole number"),
    ],
)
def test_blend_mask_refuses_what_would_give_a_silent_wrong_mask(maps, kwargs, match):
    kwargs = {"threshold": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        blend_mask(maps, kwargs.pop("threshold"), **kwargs)


# ---------------------------------------------------------------------------------------------- metrics
def test_pie_unedited_mask_counts_the_frame_as_edited():
    keep = pie_unedited_mask(np.zeros((4, 4), bool))
    assert keep.sum() == 4 and keep[1:3, 1:3].all()
    edit_mask = np.zeros((5, 5), bool)
    edit_mask[2, 2] = True
    assert pie_unedited_mask(edit_mask).sum() == 8


def test_pie_background_by_hand():
    src = np.zeros((4, 4, 3))
    out = src.copy()
    out[1, 1] = 0.5  # inside the kept region
    out[0, 0] = 1.0  # on the frame: not counted
    with pytest.raises(ValueError, match="11 x 11"):
        pie_background(src, out, np.zeros((4, 4), bool))
    src, out = np.zeros((12, 12, 3)), np.zeros((12, 12, 3))
    out[5, 5] = 0.5
    out[0, 3] = 1.0
    r = pie_background(src, out, np.zeros((12, 12), bool))
    assert r["mse"] == pytest.approx(0.25 * 3 / (12 * 12 * 3))
    assert r["psnr"] == pytest.approx(10 * np.log10(1 / r["mse"]))
    edit_mask = np.zeros((12, 12), bool)
    edit_mask[5, 5] = True
    assert pie_background(src, out, edit_mask)["mse"] == 0


def test_ssim_by_hand():
    a, b = np.full((12, 12, 3), 0.2), np.full((12, 12, 3), 0.6)
    c1 = 0.01**2
    assert ssim(a, b) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1))
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 3))
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, 1 - x) < 0


# ---------------------------------------------------------------------------------------------- pie-tiny
def test_pie_tiny_cases_change_only_their_edit_region():
    cases = pie_tiny(4)
    assert len(cases) == 12 and {c.kind for c in cases} == set(KINDS)
    for c in cases:
        outside = ~c.edit_mask
        assert np.array_equal(c.source.image[outside], c.truth.image[outside]), c.kind
        assert not np.array_equal(c.source.image, c.truth.image)
        assert c.source_prompt != c.target_prompt
        s = score(c, c.truth.image)
        assert s["right"] and s["psnr_to_truth"] == float("inf") and s["centre_moved"] == 0
        assert score(c, c.source.image)["right"] is False  # the unedited image is not the edit


def test_a_pie_tiny_edit_is_right_only_when_the_whole_target_is_read():
    """Only the changed word was read: pure noise was a right "checkered" edit (the reader sees a pattern in
    anything), and a colour edit that lost the stripes a right colour edit."""
    from ddim_course.pocket.scenes import edit_scene

    cases = pie_tiny(30)
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=cases[0].source.image.shape)
    for c in cases:
        assert score(c, c.truth.image)["right"]
        assert not score(c, noise)["right"], c.target_prompt
    colour = next(c for c in cases if c.kind == "colour" and c.source.pattern != "plain")
    flat = edit_scene(colour.truth, pattern="plain")  # the new colour, right, on a background it was not asked for
    assert not score(colour, flat.image)["right"]


def test_edit_scene_keeps_everything_it_is_not_told_to_change():
    s = draw_scene("green", "square", "checkered", seed=5)
    same = edit_scene(s)
    assert np.array_equal(same.image, s.image)
    t = edit_scene(s, shape="triangle")
    assert t.params["drawn_center"] == s.params["drawn_center"] and t.size == s.size
    p = edit_scene(s, pattern="plain")
    assert p.params["tones"][0] == s.params["tones"][0]
    assert dataclasses.replace(s).caption == s.caption


def test_check_blend_mask_passes_the_answer_and_fails_the_usual_mistakes():
    from ddim_course.exercises import check_blend_mask

    assert check_blend_mask(blend_mask)
    by_max = check_blend_mask(lambda m, t: (m / m.flatten(1).amax(1)[:, None, None] > t).float()[:, None])
    assert not by_max and "minimum" in by_max.message
    inverted = check_blend_mask(lambda m, t: 1 - blend_mask(m, t))
    assert not inverted and "inverted" in inverted.message
    assert not check_blend_mask(lambda m, t: blend_mask(m, t)[:, 0])  # (batch, h, w): wrong shape
    assert not check_blend_mask(lambda m, t: blend_mask(m, t) * float("nan"))
    assert not check_blend_mask(lambda m, t: blend_mask(m, t).bool())  # booleans are not floats
    assert not check_blend_mask(lambda m, t: None)


def test_prompt_to_prompt_explorer_shows_the_swap_and_the_controlled_edit(pipe):
    from ddim_course.widgets import PromptToPromptExplorer

    ex = PromptToPromptExplorer(pipe, _image(), SRC, TGT, num_inference_steps=3)
    swap, p2p = ex.show("direct", 1.0, 1.0, 0.5)
    assert swap.size == p2p.size and swap.tobytes() != p2p.tobytes()
    box = ex.widget(method="direct")
    assert "prompt-to-prompt" in box.children[-1].value and "could not" not in box.children[-1].value
    blend, threshold = box.children[0].children[1], box.children[1].children[2]
    assert not threshold.disabled
    blend.value = False  # the threshold slider does nothing without the blend: greyed out
    assert threshold.disabled and "could not" not in box.children[-1].value
    blend.value = True
    assert not threshold.disabled
    assert set(ex.methods.inversions) == {("direct", None)}
    words = PromptToPromptExplorer(pipe, _image(), SRC, TGT, num_inference_steps=3, blend_words=("blue",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no blend: its words are left out, not warned about as unused
        words.show("direct", 0.8, 0.4, None)


def test_explorers_and_the_map_plot_name_a_bad_start_value(pipe):
    from ddim_course.plots import plot_attention_maps
    from ddim_course.widgets import MethodExplorer, PromptToPromptExplorer

    ex = PromptToPromptExplorer(pipe, _image(), SRC, TGT, num_inference_steps=3)
    for kwargs, match in (
        ({"method": "bogus"}, "unknown inversion method 'bogus'"),
        ({"method": "edict"}, r"method must be one of \['ddim', 'null-text', 'negative-prompt', 'direct'\]"),
        ({"cross": 5}, r"cross must be a number in \[0, 1\] \(the slider's range\)"),
        ({"threshold": 0.0}, r"threshold must be a number in \[0.1, 0.9\]"),
    ):
        with pytest.raises(ValueError, match=match):
            ex.widget(**kwargs)
    assert ex.methods.inversions == {}  # refused before any work
    with pytest.raises(ValueError, match=r"guidance_scale must be a number in \[0, 100\]"):
        MethodExplorer(pipe, _image(), SRC, TGT, num_inference_steps=3).widget(guidance=500)
    MethodExplorer(pipe, _image(), SRC, TGT, num_inference_steps=3).widget(guidance=2.0)  # a lesson's own G joins
    maps = cross_attention_maps(pipe, invert(pipe, _image(), SRC, num_inference_steps=2, progress=False))
    for args, kwargs, match in (
        (("maps",), {}, "maps must be what cross_attention_maps"),
        ((maps, "x.png"), {}, "the image is a str: give a PIL image, a tensor or an array"),
        ((maps,), {"side": 3}, r"no maps at 3 x 3; the UNet attends at \[4, 8\]"),
    ):
        with pytest.raises(ValueError, match=match):
            plot_attention_maps(*args, **kwargs)


def test_editing_a_null_text_inversion_at_another_guidance_warns(pipe):
    image = draw_scene("red", "circle", "striped", seed=3).pil()
    nt = METHODS["null-text"](pipe, image, SRC, num_inference_steps=4, guidance_scale=7.5, progress=False)
    kw = dict(inversion=nt, num_inference_steps=4, start_step=0, output_type="latent", progress=False)
    with pytest.warns(UserWarning, match="fitted at guidance 7.5 and is edited at 15"):
        edit(pipe, None, SRC, TGT, guidance_scale=15, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        edit(pipe, None, SRC, TGT, guidance_scale=7.5, **kw)  # the guidance it was fitted at: no warning
        ddim = METHODS["ddim"](pipe, image, SRC, num_inference_steps=4, progress=False)
        edit(pipe, None, SRC, TGT, guidance_scale=15, **(kw | {"inversion": ddim}))  # DDIM fits no guidance


def test_words_are_cut_as_the_tokenizer_cuts_them_accents_and_hyphens_too(pipe):
    import unicodedata

    decomposed = [unicodedata.normalize("NFD", p) for p in ("a café red circle", "a café blue circle")]
    a = align_tokens(pipe, *decomposed)  # the tokenizer composes "e" + accent into one letter first
    assert token_words(pipe, decomposed[0])[a.changed_source[0]] == "red" and len(a.changed_source) == 1
    for word in ("t-shirt", "3d", "cat's"):
        s, t = f"a red {word}", f"a blue {word}"
        source_pos, target_pos = blend_positions(
            pipe, PromptToPrompt(blend_words=(word,)), align_tokens(pipe, s, t), s, t
        )
        assert source_pos == target_pos and len(source_pos) == len(
            pipe.tokenizer(word, add_special_tokens=False).input_ids
        )


def test_a_word_after_a_character_the_pocket_tokenizer_does_not_know_is_found(pipe):
    """The pocket tokenizer reads an emoji as its end token, which has no word end ("</w>") of its own."""
    inv = invert(pipe, _image(), "a red circle on a striped \N{CAT FACE} background", num_inference_steps=3)
    maps = cross_attention_maps(pipe, inv)
    assert maps.word("background").shape == (8, 8) and maps.word("striped").shape == (8, 8)
