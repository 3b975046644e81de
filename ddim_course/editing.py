"""Editing: invert with the source prompt, sample with the target prompt; optionally with prompt-to-prompt.

``edit`` is the course's one editing function (notebooks 05-08). Without ``control`` it is the plain prompt swap
of notebook 05: sample the inverted latent back with the target prompt. With ``control="prompt-to-prompt"`` the
source and target branches run as one batch and the target borrows the source's attention (``attention.py``).
A ``"direct"`` inversion (Ju et al. 2024) snaps the source branch back onto the inversion trajectory at every step.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import torch

from .attention import (
    PromptToPrompt,
    _Run,
    align_tokens,
    as_controller,
    blend_positions,
    controlled,
    keep_positions,
    token_ids,
)
from .ddim import (
    Inversion,
    _alphas,
    _bar,
    _check_finite,
    _check_finite_on_cpu,
    _check_guidance,
    _check_output_type,
    _check_same_model,
    _check_start_step,
    _check_steps,
    _prediction_type,
    _prompts,
    _schedule,
    _show,
    _work_dtype,
    ddim_step,
    decode,
    encode_text,
    guide,
    read_alike,
    reconstruct,
)
from .i18n import tr
from .images import learner_stacklevel
from .inversions import METHODS, Method, get_method, warn_if_fitted_elsewhere
from .models import get_preset


def _p2p_refused(method: str) -> ValueError:
    return ValueError(
        f"prompt-to-prompt editing from a {method!r} inversion is not built: its sampler is not DDIM's. "
        "Use 'ddim', 'null-text', 'negative-prompt', 'direct' or 'fixed-point'"
    )


def default_start_step(num_inference_steps: int) -> int:
    """Where an edit's target branch starts when none is given: a fifth of the way (step 10 of 50, 2 of 10; a fixed
    10 was refused under 11 steps). ``edit`` and the editing explorers share it."""
    return num_inference_steps // 5


def _guidance_for(inversion, guidance_scale) -> float:
    """``guidance_scale`` checked; None: the guidance a guidance-fitted ``Inversion`` was made at, otherwise 7.5."""
    if guidance_scale is None:
        fitted = METHODS.get(inversion.method) if isinstance(inversion, Inversion) else None
        guidance_scale = inversion.guidance_scale if fitted is not None and fitted.per_guidance else 7.5
    return _check_guidance(guidance_scale)


def picture_gap(pipe, image, inversion: Inversion) -> float:
    """How far ``image``'s latent lies from the picture ``inversion`` was made from, relative to that latent's size
    (RMS): 0 for the same picture; about 0.001-0.03 for it resized or saved as JPEG on the pocket model (0.23 on a
    random test VAE); 0.4-1.1 for another picture. Infinite when the shapes differ. One VAE encode."""
    from .ddim import _image_latents

    mine = _image_latents(pipe, image)
    held = inversion.latents[0].to(mine.device, mine.dtype)
    if mine.shape != held.shape:
        return float("inf")
    return float((mine - held).float().pow(2).mean().sqrt() / held.float().pow(2).mean().sqrt().clamp_min(1e-12))


def _warn_if_another_picture(pipe, image, inversion: Inversion) -> None:
    """An edit from a given inversion ignores ``image``: say so when ``image`` is not the picture it was made from
    (the edit would otherwise show another picture than the one passed, without a word). One VAE encode."""
    if picture_gap(pipe, image, inversion) < 0.05:  # the same picture (re-encoded, or saved and loaded again)
        return
    warnings.warn(
        "image is not the picture this inversion was made from: an edit from an inversion starts from the picture the "
        "inversion holds and does not use image. Pass image=None to edit the inversion's picture, or leave inversion "
        "out (or give a method name) to invert this image",
        stacklevel=4,
    )


def _check_source_prompt(pipe, inversion: Inversion, source_prompt, *, one_source: bool) -> None:
    """Warn when ``source_prompt`` is not the prompt an image was inverted with, as the text encoder reads them (its
    source branch would no longer retrace it). ``one_source``: the edit runs every image's source branch with one
    prompt (prompt-to-prompt), so a batch inverted with a prompt per image is refused."""
    made = list(inversion.prompt) if isinstance(inversion.prompt, (list, tuple)) else [inversion.prompt]
    given = list(source_prompt) if isinstance(source_prompt, (list, tuple)) else [source_prompt]
    if not made or not all(isinstance(m, str) for m in made + given):
        return
    if one_source and not read_alike(pipe, made, made[0]):
        i = next(k for k, m in enumerate(made) if not read_alike(pipe, m, made[0]))
        raise ValueError(
            f"prompt-to-prompt runs every image's source branch with one source prompt, but the images of this "
            f"inversion were inverted with prompts of their own ({made[0]!r} for image 0, {made[i]!r} for image "
            f"{i}): invert and edit each image on its own, with its own prompt"
        )
    n = max(len(made), len(given))
    made, given = (p * n if len(p) == 1 else p for p in (made, given))
    diff = [k for k, (m, g) in enumerate(zip(made, given)) if not read_alike(pipe, m, g)]
    if diff:
        k = diff[0]
        which = f" for image {k} (of {n})" if len(set(made)) > 1 else ""
        warnings.warn(
            f"the inversion was made with the prompt {made[k]!r}{which} but source_prompt is {given[k]!r}: "
            "the source branch no longer retraces the picture. Pass the inversion's own prompt as source_prompt",
            stacklevel=learner_stacklevel(),
        )


def _inversion_for(
    pipe, image, source_prompt, inversion, num_inference_steps, guidance_scale, progress, extra=None, one_source=False
):
    """The inversion to edit from: the given ``Inversion``, or one made here by a registry ``Method``."""
    if isinstance(inversion, Inversion):
        if inversion.num_inference_steps != num_inference_steps:
            raise ValueError(
                f"the given inversion has {inversion.num_inference_steps} steps but num_inference_steps is "
                f"{num_inference_steps}; pass num_inference_steps={inversion.num_inference_steps}"
            )
        warn_if_fitted_elsewhere(inversion, guidance_scale, "edited")
        _check_source_prompt(pipe, inversion, source_prompt, one_source=one_source)
        if image is not None:
            _warn_if_another_picture(pipe, image, inversion)
        return inversion
    return inversion(
        pipe,
        image,
        source_prompt,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        progress=progress,
        **(extra or {}),
    )


def edit(
    pipe,
    image,
    source_prompt: str,
    target_prompt: str,
    *,
    start_step: int | None = None,
    num_inference_steps: int = 50,
    guidance_scale: float | None = None,
    inversion: Inversion | str | None = None,
    control: PromptToPrompt | str | None = None,
    output_type: str = "pil",
    progress: bool = True,
    generator: torch.Generator | None = None,
):
    """Edit an image: invert it with ``source_prompt``, sample with ``target_prompt``. Notebooks 05 and 07.

    ``inversion``: an ``Inversion`` to reuse (then ``image`` is not used: the inversion holds the picture; pass None,
    or the same picture: another one is warned about), a method
    name of ``inversions.METHODS`` (``"ddim"``, ``"null-text"``, ``"negative-prompt"``, ``"direct"``, ...) run here
    at ``guidance_scale``, or None (DDIM inversion at guidance 1). ``guidance_scale``: None means 7.5, or the
    guidance a given null-text, fixed-point, EDICT or DDPM inversion was fitted at. ``start_step``: where the
    target branch starts; None means a fifth of the steps (10 of 50).
    ``control``: None for the plain prompt swap, ``"prompt-to-prompt"`` or a ``PromptToPrompt(...)`` for attention
    control. ``generator``: the seed of an inversion made here that draws noise (``"ddpm"``); without one, such an
    edit differs from run to run. Returns the edited images (a list of PIL images by default)."""
    num_inference_steps = _check_steps(pipe, num_inference_steps)
    if start_step is None:
        start_step = default_start_step(num_inference_steps)
    start_step = _check_start_step(start_step, num_inference_steps)
    _check_output_type(output_type)
    _warn_about_prompts(
        pipe, _prompts(source_prompt, name="source_prompt"), _prompts(target_prompt, name="target_prompt")
    )
    if inversion is None:
        inversion = "ddim"
    if not isinstance(inversion, (Inversion, str)):
        raise ValueError(
            f"inversion must be an Inversion, a method name ('ddim', 'null-text', 'direct', ...) or None, "
            f"got {type(inversion).__name__}"
        )
    if isinstance(inversion, str):
        inversion = get_method(inversion)  # its registry entry: an unknown name is refused before any work
    if image is None and not isinstance(inversion, Inversion):
        raise ValueError(
            f"image is None, but inversion={inversion.name!r} inverts the picture here: give the image to edit (a "
            "path, a URL or a PIL image). image=None is for an Inversion you made before (inversion=inv)"
        )
    extra = {}
    if generator is not None:
        takes = inversion.options() if isinstance(inversion, Method) else ()
        if not isinstance(generator, torch.Generator):
            raise ValueError(
                f"generator must be a torch.Generator (torch.Generator().manual_seed(0)), got {_show(generator)}"
            )
        if isinstance(inversion, Inversion):
            raise ValueError(
                "generator seeds an inversion that edit makes and that draws noise (inversion='ddpm'); this edit "
                "reuses the Inversion it was given, so nothing is drawn: leave generator out"
            )
        if takes is not None and "generator" not in takes:
            raise ValueError(
                f"inversion={inversion.name!r} draws no noise; generator seeds only an inversion that does "
                "(inversion='ddpm'): leave it out"
            )
        extra["generator"] = generator
    unseeded = generator is None and isinstance(inversion, Method) and inversion.draws_noise
    g = _guidance_for(inversion, guidance_scale)
    controller = _controller(pipe, control, num_inference_steps - start_step)
    if isinstance(control, PromptToPrompt):
        _warn_if_other_models_settings(pipe, control)
        unused = [k for k in ("blend_words", "blend_keep_words") if not control.blend and getattr(control, k)]
        if unused:  # a misspelt word there would be refused with the blend on, and pass unnoticed with it off
            warnings.warn(
                f"{' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} used by the local blend only, and this "
                "PromptToPrompt has blend=False: they change nothing. Pass blend=True to blend, or leave them out",
                stacklevel=2,
            )
    if controller is None and isinstance(inversion, Method) and inversion.name == "direct":
        warnings.warn(
            "inversion='direct' without control is a plain DDIM edit: direct inversion only snaps the source branch "
            "of prompt-to-prompt; pass control='prompt-to-prompt' (or inversion='ddim' for the plain swap)",
            stacklevel=2,
        )
    if controller is not None:  # refuse what prompt-to-prompt cannot do before the inversion runs
        if isinstance(inversion, Method) and not inversion.ddim_sampler:
            raise _p2p_refused(inversion.name)
        _check_blend_starts(controller, num_inference_steps - start_step)
        if controller.blend:
            blended = blend_positions(
                pipe, controller, align_tokens(pipe, source_prompt, target_prompt), source_prompt, target_prompt
            )
            kept = keep_positions(pipe, controller, source_prompt, target_prompt)
            if any(set(b) & set(k) for b, k in zip(blended, kept)):  # its maps would go in and out of the mask
                raise ValueError(
                    f"blend_keep_words {list(controller.blend_keep_words)} names a word the local blend uses (the "
                    "words the edit changes, or blend_words): nothing would be left to edit. Keep other words, such "
                    "as the object's for a background edit"
                )
    if unseeded:  # after the refusals above: no warning about an edit that is not made
        warnings.warn(
            f"inversion={inversion.name!r} draws random noise: this edit will differ from run to run. Pass "
            "generator=torch.Generator().manual_seed(0) to repeat it",
            stacklevel=2,
        )
    inv = _inversion_for(
        pipe,
        image,
        source_prompt,
        inversion,
        num_inference_steps,
        g,
        progress,
        extra,
        one_source=controller is not None,
    )
    if controller is None:  # the plain prompt swap (a direct inversion's source branch is not needed without P2P)
        return reconstruct(
            pipe,
            inv,
            prompt=target_prompt,
            start_step=start_step,
            guidance_scale=g,
            output_type=output_type,
            progress=progress,
        )
    _, target = edit_branches(
        pipe,
        inv,
        source_prompt,
        target_prompt,
        start_step=start_step,
        guidance_scale=g,
        controller=controller,
        progress=progress,
    )
    if output_type == "latent":
        return target
    return decode(pipe, target, output_type=output_type)


def warn_unknown_words(pipe, prompts: list[str]) -> None:
    """Warn about a word the model never learned (the pocket model knows only its captions' words): the picture
    would not follow it, without a word."""
    preset = get_preset(pipe)
    if preset.vocabulary:
        from .pocket.model import grammar_words

        known = set(grammar_words())
        words = [w for p in prompts for w in re.findall(r"[^\W\d_]+", p.lower())]
        unknown = list(dict.fromkeys(w for w in words if w not in known))
        if unknown:
            shown = ", ".join(repr(w) for w in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            key = "unknown_word" if len(unknown) == 1 else "unknown_words"
            warnings.warn(f"{tr(key, shown=shown)} {preset.prompt_note}", stacklevel=learner_stacklevel())


def _warn_about_prompts(pipe, sources: list[str], targets: list[str]) -> None:
    """Two mistakes that would leave an edit wrong without a word: a word the model never learned (the pocket model
    knows only its captions' words), and a change that lies past the last token the text encoder reads."""
    warn_unknown_words(pipe, sources + targets)
    pairs = zip(
        sources * len(targets) if len(sources) == 1 else sources,
        targets * len(sources) if len(targets) == 1 else targets,
    )
    for source, target in pairs:
        if source != target and token_ids(pipe, source) == token_ids(pipe, target):  # as the text encoder reads them
            n = pipe.tokenizer.model_max_length
            longer = [pipe.tokenizer(p, max_length=4 * n, truncation=True).input_ids for p in (source, target)]
            if longer[0] == longer[1] or max(map(len, longer)) <= n:  # not cut: they differ in case, spaces or
                a, b = (re.sub(r"\s+", "", p.lower()) for p in (source, target))  # characters the tokenizer drops
                if a == b:  # case and spaces (around a comma too): the same words, rightly read the same
                    continue
                chars = sorted(set(a) ^ set(b)) or sorted(set(a + b) - set(" "))  # the second: an order of them
                warnings.warn(
                    f"the text encoder reads the source and target prompts the same: they differ only in "
                    f"{', '.join(repr(c) for c in chars[:5])}{' ...' if len(chars) > 5 else ''}, which its "
                    "tokenizer does not tell apart (an emoji, say, is one unknown token to the pocket model), so the "
                    "edit gives the picture back unchanged. Change a word the model knows",
                    stacklevel=learner_stacklevel(),
                )
                return
            warnings.warn(
                f"the source and target prompts differ only after the {n} tokens the text encoder reads: the change "
                "is cut off, and the edit gives the picture back unchanged. Shorten the prompts",
                stacklevel=learner_stacklevel(),
            )
            return


def _warn_if_other_models_settings(pipe, control: PromptToPrompt) -> None:
    """A hand-made PromptToPrompt keeps Hertz et al.'s defaults (chosen for Stable Diffusion) for every field it does
    not set; where the model's preset measured other values and none of them was set, say so."""
    preset = get_preset(pipe).prompt_to_prompt
    if not control.blend:  # the blend's settings are not used
        preset = {k: v for k, v in preset.items() if not k.startswith("blend_")}
    defaults = {f.name: f.default for f in dataclasses.fields(PromptToPrompt)}
    left = {k: v for k, v in preset.items() if getattr(control, k) == defaults.get(k) != v}
    if left and len(left) == len(preset):
        warnings.warn(
            "this PromptToPrompt keeps the defaults chosen for Stable Diffusion ("
            + ", ".join(f"{k}={defaults[k]!r}" for k in left)
            + "); this model's measured settings are "
            + ", ".join(f"{k}={v!r}" for k, v in left.items())
            + ": start from them, PromptToPrompt(**get_preset(pipe).prompt_to_prompt_for(kind), ...), or use "
            "control='prompt-to-prompt'",
            stacklevel=learner_stacklevel(),
        )


def _controller(pipe, control, steps: int) -> PromptToPrompt | None:
    """``control`` as a controller: ``"prompt-to-prompt"`` is the model preset's settings, whose local blend starts
    after a fifth of the run; a run too short to reach that (1 step: start_step at the last step) blends from its first
    step (the preset was refused, with advice about a setting the learner never gave)."""
    controller = as_controller(control, get_preset(pipe).prompt_to_prompt)
    if isinstance(control, str) and controller.blend and _blend_never_starts(controller.blend_start, max(steps, 1)):
        controller = dataclasses.replace(controller, blend_start=0.0)
    return controller


def _blend_never_starts(blend_start: float, steps: int) -> bool:
    """Whether a local blend that starts after ``blend_start`` of a run's ``steps`` starts after its last step."""
    return blend_start * steps > steps - 1


def _check_blend_starts(controller, steps: int) -> None:
    """A local blend that starts after the last of the run's ``steps`` would be switched on and never used."""
    if (
        isinstance(controller, PromptToPrompt)
        and controller.blend
        and _blend_never_starts(controller.blend_start, steps)
    ):
        raise ValueError(
            f"blend_start {controller.blend_start:g} leaves no step of this {steps}-step run (num_inference_steps - "
            f"start_step) to blend in (the blend starts at step {controller.blend_start * steps:g}); lower it to at "
            f"most {(steps - 1) / steps:.3g}, start earlier, or use blend=False"
        )


def unet_rows_per_step(inversion: Inversion, guidance_scale: float, controlled_: bool, *, start_step: int = 0) -> int:
    """Model evaluations per step and image of an edit (a guided evaluation counts 2, as everywhere in the course):
    the plain swap runs the target only; prompt-to-prompt adds the source branch, whose unconditional half is not
    needed after a direct inversion (the source is snapped back onto the trajectory), a null-text inversion edited
    from step 0 at its own guidance (its source branch is the path it recorded) or a negative-prompt inversion (its
    guided estimate is the conditional one)."""
    per = 2 if guidance_scale != 1 else 1
    if not controlled_:
        return per
    path = _source_path(inversion, inversion.prompt, guidance_scale, start_step)
    return per + 1 if _plain_source(inversion, inversion.prompt, path) else 2 * per


def _source_path(inversion: Inversion, source_prompt, guidance_scale: float, start_step: int):
    """The latents the source branch passes through, when they are known without sampling it (indexed like
    ``latents``), else None: a direct inversion's trajectory (its source is snapped back onto it: Ju et al. 2024),
    or the path a null-text inversion recorded while it learned its embeddings, which is exactly where the source
    branch would go when it starts at step 0 with the inversion's own prompt and guidance (and its noisiest latent and
    embeddings are still those the path was recorded with: ``Inversion.sampling_key``)."""
    if inversion.method == "direct":
        return inversion.latents
    recorded = inversion.sampled_latents
    if recorded is not None and start_step == 0 and guidance_scale == inversion.guidance_scale:
        if source_prompt == inversion.prompt and inversion.uncond_embeddings is not None:
            if inversion.info.get("sampled_with") == inversion.sampling_key():  # nothing it depends on changed
                return recorded
    return None


def _plain_source(inversion: Inversion, source_prompt, path) -> bool:
    """True when the source branch needs no unconditional half: its ``path`` is known (``_source_path``) or guidance
    cannot change it (negative-prompt inversion's negative prompt is the source prompt, so eps_p + w (eps_p - eps_p)
    = eps_p: notebook 06)."""
    if path is not None:
        return True
    return inversion.negative_prompt == source_prompt and inversion.uncond_embeddings is None


@torch.inference_mode()
def edit_branches(
    pipe,
    inversion: Inversion,
    source_prompt: str,
    target_prompt: str,
    *,
    start_step: int,
    guidance_scale: float,
    controller: PromptToPrompt | None,
    progress: bool = True,
    trace: list | None = None,
):
    """Run the source and target branches of an edit as one batch; returns their final latents (source, target).

    Each step asks the UNet once for both branches (rows: unconditional halves, then conditional source and target).
    ``controller`` steers the target's attention (None: none). A direct inversion's source branch is set to the
    inversion's own latent after every step, and a null-text inversion's to the path it recorded (``_source_path``).
    ``trace`` (a list) receives (source, target) latents after each step."""
    if not isinstance(inversion, Inversion):
        raise ValueError(f"inversion must be an Inversion, got {type(inversion).__name__}")
    if trace is not None and not isinstance(trace, list):
        raise ValueError(f"trace must be a list (it receives the latents of each step) or None, got {_show(trace)}")
    _check_same_model(pipe, inversion)
    if inversion.coupled_latents is not None or inversion.noise_maps is not None:
        raise _p2p_refused(inversion.method)
    if isinstance(inversion.prompt, (list, tuple)) and len(set(inversion.prompt)) > 1:
        _check_source_prompt(pipe, inversion, source_prompt, one_source=True)  # refused: one source prompt for all
    n = inversion.num_inference_steps
    start_step = _check_start_step(start_step, n)
    controller = _controller(pipe, controller, n - start_step)  # "prompt-to-prompt" as edit reads it
    _check_blend_starts(controller, n - start_step)
    g = _check_guidance(guidance_scale)
    timesteps, ratio = _schedule(pipe, n)
    alphas, final = _alphas(pipe)
    ptype = _prediction_type(pipe)
    x = inversion.latents_at(start_step).to(pipe.device, _work_dtype(pipe))
    b = x.shape[0]
    path = _source_path(inversion, source_prompt, g, start_step)
    plain_source = _plain_source(inversion, source_prompt, path)
    src_cond, _ = encode_text(pipe, source_prompt, guidance=False, batch=b)
    tgt_cond, uncond = encode_text(
        pipe, target_prompt, negative_prompt=inversion.negative_prompt, guidance=g != 1, batch=b
    )
    per_step_uncond = inversion.uncond_embeddings if (inversion.uncond_embeddings is not None and g != 1) else None
    # batch rows: [uncond source][uncond target] source target
    n_uncond = 0 if g == 1 else (1 if plain_source else 2)
    rows = (n_uncond + 2) * b
    alignment = align_tokens(pipe, source_prompt, target_prompt) if controller is not None else None
    run = _Run(
        rows,
        slice(n_uncond * b, (n_uncond + 1) * b),
        slice((n_uncond + 1) * b, rows),
        alignment=alignment,
        controller=controller,
        steps=n - start_step,
        latent_hw=tuple(x.shape[-2:]),
    )
    if controller is not None and controller.blend:
        run.blend_source, run.blend_target = blend_positions(pipe, controller, alignment, source_prompt, target_prompt)
        run.keep_source, run.keep_target = keep_positions(pipe, controller, source_prompt, target_prompt)
    # prompts the text encoder reads as one change nothing: the target is the source branch (left to itself at
    # guidance 7.5, with no changed word to blend, it drew the picture again: 16.7 dB where the source kept 35)
    ids = (alignment.source_ids, alignment.target_ids) if alignment is not None else None  # tokenized once
    unchanged = ids[0] == ids[1] if ids else token_ids(pipe, source_prompt) == token_ids(pipe, target_prompt)
    source, target = x.clone(), x.clone()
    dtype = pipe.unet.dtype
    step = dict(final_alpha_cumprod=final, prediction_type=ptype)
    with controlled(pipe, run):
        for i in _bar(range(start_step, n), "editing", progress):
            t = timesteps[i]
            run.step = i - start_step
            u = per_step_uncond[i] if per_step_uncond is not None else uncond
            parts = [source] * (n_uncond == 2) + [target] * (n_uncond >= 1) + [source, target]
            texts = [u] * n_uncond + [src_cond, tgt_cond]
            out = pipe.unet(torch.cat(parts).to(dtype), t, encoder_hidden_states=torch.cat(texts).to(dtype)).sample.to(
                x.dtype
            )
            _check_finite_on_cpu(out, "the model's output", after=f"the UNet at timestep {int(t)}")
            chunks = list(out.split(b))
            c_src, c_tgt = chunks[-2], chunks[-1]
            eps_tgt = guide(chunks[n_uncond - 1], c_tgt, g) if n_uncond else c_tgt
            target = ddim_step(eps_tgt, t, t - ratio, target, alphas, **step)
            if path is not None:
                source = path[n - i - 1].to(x.device, x.dtype)  # the known path's latent after step i
            else:
                eps_src = guide(chunks[0], c_src, g) if n_uncond == 2 else c_src
                source = ddim_step(eps_src, t, t - ratio, source, alphas, **step)
            mask = run.mask(target.shape[-2:])
            if unchanged:
                target = source
            elif mask is not None:
                target = source + mask.to(target.dtype) * (target - source)
            if trace is not None:
                trace.append((source.clone(), target.clone()))
    _check_finite(target, "the edited latents", after="editing")
    _warn_if_blend_was_off(run)
    return source, target


def _warn_if_blend_was_off(run: _Run) -> None:
    """A local blend whose last mask covered almost the whole picture kept nothing of the source (words inserted in
    the target join the blend); one whose kept words took most of it away undid the edit (their maps lie on the
    edited words' pixels)."""
    if run.last_masks is None:
        return
    blended, final = (float(m.mean()) for m in run.last_masks)
    if final >= 0.97:
        warnings.warn(
            f"the local blend's mask covered {final:.0%} of the picture: the edit kept almost nothing of the source. "
            "Every word that differs between the prompts joins the blend (an inserted word too): name the edited "
            "words with PromptToPrompt(blend_words=(...))",
            stacklevel=learner_stacklevel(),
        )
    elif blended > 0 and final < 0.2 * blended:
        warnings.warn(
            f"blend_keep_words took {1 - final / blended:.0%} of the local blend's mask away: their maps lie where the "
            "edited words' do, so the edit was mostly undone. Keep the words of another part of the picture (the "
            "object's, for a background edit)",
            stacklevel=learner_stacklevel(),
        )
