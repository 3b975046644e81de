"""Small ipywidgets explorers for the exercises.

Each explorer is a thin layout around a plain function (``noisy_image_at``, ``guided_sample``,
``compare_at_start_step``, ``EditExplorer.apply``, ``MethodExplorer.show``) so the callbacks are tested
without a browser (and ``tests/test_browser.py`` drives notebook 05's editor in a real one). While a callback
computes, its explorer says what it is computing and its controls are disabled (:func:`_busy`).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import math
import re
import textwrap
import warnings

import torch
from PIL import Image

from .ddim import (
    MAX_GUIDANCE,
    Inversion,
    _check_guidance,
    _check_latents,
    _check_pipe,
    _check_same_model,
    _check_start_step,
    _check_steps,
    _prompts,
    _real,
    _show,
    _whole,
    img2img,
    invert,
    reconstruct,
    sample,
)
from .editing import _blend_never_starts, edit, picture_gap
from .i18n import tr
from .images import decode, encode, image_size, load_image
from .inversions import METHODS, check_inner_steps, get_method
from .metrics import psnr

DISPLAY_SIZE = 256


def _num(value: float) -> str:
    """A slider's float, short and without binary noise: 10.000000000000002 -> "10", 0.1 + 0.2 -> "0.3"."""
    return f"{float(value):g}"


def _text(text: str) -> str:
    """Plain text for an HTML label (a prompt may hold < or &)."""
    return html.escape(text, quote=False)


LABEL_PROMPT = 100
"""Characters of a prompt a label repeats (a prompt of 10,000 characters buried the label's point)."""


def _quoted(prompt: str) -> str:
    """A prompt in quotes for a label, cut in the middle when long: "'a blue ... circle' (11,200 characters)"."""
    if len(prompt) <= LABEL_PROMPT:
        return f"'{prompt}'"
    half = LABEL_PROMPT // 2
    return f"'{prompt[:half]} ... {prompt[-half:]}' ({tr('w_characters', n=f'{len(prompt):,}')})"


def _first_line(text: str, limit: int = 400) -> str:
    """A message's first line, cut at a space near ``limit`` characters with "...", never inside a word (a note
    ended "(plain, striped, checkere")."""
    line = text.strip().splitlines()[0]
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + " ..."


@contextlib.contextmanager
def _busy(label, controls, doing: str, failing: str):
    """Run a callback's work with the explorer marked busy.

    Meanwhile ``label`` says ``doing`` and ``controls`` are disabled; afterwards they are as they were. If the
    work raises, the label says "could not ``failing``: the error's message" (in words; the red is extra) and
    the error goes no further: an error in a widget callback is otherwise never seen, and the explorer stays
    usable for the next try. A warning the work gives (a prompt cut at the text encoder's length, say) is added to
    the label: printed from a callback, it would go to JupyterLab's log, not under the cell.
    """
    before = [c.disabled for c in controls]
    for c in controls:
        c.disabled = True
    label.value = _text(doing)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        notes = dict.fromkeys(_first_line(str(w.message)) for w in caught if str(w.message).strip())
        if notes:
            label.value += "".join(f"<br>{_text(tr('w_note', message=n))}" for n in list(notes)[:3])
    except Exception as e:
        message = _first_line(str(e)) if str(e).strip() else type(e).__name__  # one line
        label.value = f'<span style="color: #b00020">{_text(tr("could_not", failing=failing, message=message))}</span>'
    finally:
        for c, was in zip(controls, before):
            c.disabled = was


def _one_of(value, options, name: str):
    """A dropdown's start value, checked (ipywidgets would raise a TraitError from deep inside; True would pass as
    1.0)."""
    if isinstance(value, bool) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def _digest(image: Image.Image) -> str:
    """What an explorer's picture is, pixel for pixel: a picture swapped or painted on after an inversion was made
    is told apart from the one inverted."""
    if not isinstance(image, Image.Image):
        raise ValueError(f"the explorer's image must be a PIL image, got {_show(image)}")
    return hashlib.sha256(image.mode.encode() + repr(image.size).encode() + image.tobytes()).hexdigest()


def _png(image: Image.Image, size: int = DISPLAY_SIZE) -> bytes:
    if image.width < size:  # small pocket images: enlarge with sharp pixels so details stay visible
        image = image.resize((size, round(image.height * size / image.width)), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _picture(pipe, image) -> Image.Image:
    """The explorer's picture as the model reads it: a path, a URL or a PIL image loaded at the model's size (as
    invert does), in RGB and upright (a PIL image was kept as given: a 128 x 128 one failed every redraw's psnr, a
    CMYK one could not be shown, an EXIF-turned photo was shown sideways)."""
    _check_pipe(pipe)
    from .images import image_size

    return load_image(image, size=image_size(pipe))


def _default_start(explorer) -> None:
    """An explorer's ``start_step`` set to None after it was made: ``edit``'s default, a fifth of the steps, as its
    constructor reads None (a redraw refused it, or labelled the edit "from start_step None")."""
    from .editing import default_start_step

    if explorer.start_step is None:
        explorer.start_step = default_start_step(explorer.num_inference_steps)


def _edit_settings(pipe, image, source_prompt, target_prompt, start_step, num_inference_steps):
    """An editing explorer's settings, checked when it is made (an error at the first redraw would show only in
    the widget's label): (the picture, the step count, the start step: None means a fifth of the steps, as in
    ``edit``)."""
    from .editing import default_start_step

    n = _check_steps(pipe, num_inference_steps)
    start_step = default_start_step(n) if start_step is None else _check_start_step(start_step, n)
    for name, text in (("source_prompt", source_prompt), ("target_prompt", target_prompt)):
        if not isinstance(text, str):
            raise ValueError(f"{name} must be a string (a prompt), got {_show(text)}")
        _prompts(text, name=name)  # a character that is not text: named now, not in the label at the first redraw
    return _picture(pipe, image), n, start_step


def _with_prompt_note(text, pipe):
    """A prompt box with a line under it saying which words the model knows (the pocket model's vocabulary)."""
    import ipywidgets as w

    from .models import get_preset

    note = get_preset(pipe).prompt_note
    return w.VBox([text, w.HTML(f"<small>{html.escape(note)}</small>")]) if note else text


def _image_widget(image: Image.Image | None = None):
    import ipywidgets as w

    return w.Image(
        value=_png(image) if image is not None else b"", format="png", layout=w.Layout(width=f"{DISPLAY_SIZE}px")
    )


STATIC_NOTE = (
    "Interactive explorer: run this notebook (in JupyterLab or Colab) to move its controls. "
    "Shown here: its first state."
)


def _walk(widget):
    """The widget and everything inside it, depth first (a box's children in order)."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


MAX_SNAPSHOT_LINES = 30  # a page of an explorer's settings and labels; more is a runaway prompt


def _wrap_lines(lines: list[str], chars: int) -> list[str]:
    """``lines`` cut to at most ``chars`` characters each at spaces, never inside a word ("signa / l scale"); a
    word longer than a line is cut."""
    return [row for text in lines for row in textwrap.wrap(text, chars, break_on_hyphens=False) or [""]]


def snapshot(box) -> Image.Image:
    """A picture of an explorer as it stands: its images side by side under their titles, its controls' settings
    and its label below. What a page without a running kernel (the static site, a viewer without widgets) shows."""
    import ipywidgets as w
    from PIL import ImageDraw, ImageFont

    if not isinstance(box, w.Widget):
        raise ValueError(f"snapshot needs an explorer's widget (what the explorer returns), got {type(box).__name__}")
    font = ImageFont.load_default(size=14)  # Pillow's own scalable font: no font file of the system needed
    tiles = []  # (title, image) of every picture, a title being the HTML just before it in the same box
    for part in _walk(box):
        kids = list(getattr(part, "children", ()))
        for i, kid in enumerate(kids):
            if isinstance(kid, w.Image) and kid.value:
                before = kids[i - 1] if i and isinstance(kids[i - 1], w.HTML) else None
                title = _plain(before.value) if before is not None else ""
                tiles.append((title, Image.open(io.BytesIO(kid.value)).convert("RGB")))
    settings = [
        f"{part.description}: {_num(part.value) if isinstance(part.value, float) else part.value}"
        for part in _walk(box)
        if isinstance(part, w.ValueWidget) and getattr(part, "description", "") and not isinstance(part, w.HTML)
    ]
    labels = [_plain(p.value) for p in box.children if isinstance(p, w.HTML) and _plain(p.value)]
    lines = ["; ".join(settings)] if settings else []
    lines += labels
    size, pad, line_height = DISPLAY_SIZE, 8, 18
    width = max(1, len(tiles)) * (size + pad) + pad
    chars = max(20, (width - 2 * pad) // 8)  # about 8 px a character at size 14
    wrapped = _wrap_lines([text[: chars * (MAX_SNAPSHOT_LINES + 1)] for text in lines], chars)
    if len(wrapped) > MAX_SNAPSHOT_LINES:  # a prompt of a million characters would make a picture of gigabytes
        wrapped = wrapped[: MAX_SNAPSHOT_LINES - 1] + ["..."]
    top = pad + (line_height if any(t for t, _ in tiles) else 0)
    height = top + (size if tiles else 0) + pad + line_height * len(wrapped) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (title, image) in enumerate(tiles):
        x = pad + k * (size + pad)
        image = image.resize((size, round(image.height * size / image.width)), Image.NEAREST)
        canvas.paste(image.crop((0, 0, size, min(size, image.height))), (x, top))
        draw.text((x, pad), title, fill="black", font=font)
    y = top + (size if tiles else 0) + pad
    for text in wrapped:
        draw.text((pad, y), text, fill="black", font=font)
        y += line_height
    return canvas


def _plain(markup: str) -> str:
    """The text of a label's HTML, without its tags and entities."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


def _explorer(box):
    """``box``, displayed as the live widget where widgets run, and as a picture of its first state (image/png,
    with a line saying it is interactive) where they do not: the static site, a notebook viewer on a code host.
    Frontends with a widget manager (JupyterLab, Colab, VS Code) rank the widget's own mimetype first."""
    bundle = box._repr_mimebundle_

    def with_picture(**kwargs):
        data = bundle(**kwargs) or {}
        if isinstance(data, tuple):  # (data, metadata)
            data = data[0]
        extra = {}
        try:  # the picture is a fallback: if it cannot be made, the live widget must still show
            buf = io.BytesIO()
            snapshot(box).save(buf, format="PNG")
            extra["image/png"] = buf.getvalue()
        except Exception:
            pass
        return {**data, **extra, "text/plain": STATIC_NOTE}

    box._repr_mimebundle_ = with_picture
    return box


def _seeded(seed) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (a whole number in [0, 2**63)), or a clear error."""
    seed = _whole(seed, "seed")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a whole number in [0, 2**63), got {seed}")
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------------
# notebook 01: t -> x_t
# --------------------------------------------------------------------------------------------------
@torch.inference_mode()
def noisy_image_at(pipe, latents: torch.Tensor, noise: torch.Tensor, t: int) -> tuple[Image.Image, float]:
    """The image decoded from x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise, and a_t."""
    _check_pipe(pipe)
    t = _whole(t, "t")
    n = pipe.scheduler.config.num_train_timesteps
    if not 0 <= t < n:
        raise ValueError(f"t must be in [0, {n - 1}], got {t}")
    if not isinstance(latents, torch.Tensor) or not isinstance(noise, torch.Tensor) or noise.shape != latents.shape:
        shapes = [tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for v in (latents, noise)]
        raise ValueError(f"latents and noise must be tensors of one shape, got {shapes[0]} and {shapes[1]}")
    # checked before add_noise, which moves the scheduler's alphas to the latents' device (a meta one would stay)
    _check_latents(pipe, latents, "latents")
    _check_latents(pipe, noise, "noise")
    latents, noise = latents.to(pipe.device), noise.to(pipe.device)
    noisy = pipe.scheduler.add_noise(latents, noise, torch.tensor([t]))
    return decode(pipe, noisy)[0], float(pipe.scheduler.alphas_cumprod[t])


def noise_explorer(pipe, image, *, seed: int = 0):
    """A slider over t that shows the noisy image x_t and its alpha_bar."""
    import ipywidgets as w

    if isinstance(image, (list, tuple)):  # it showed the first and encoded the rest for nothing
        if len(image) != 1:
            raise ValueError(f"noise_explorer shows one image, got a list of {len(image)}: pass one, e.g. images[0]")
        image = image[0]
    latents = encode(pipe, image)
    noise = torch.randn(latents.shape, generator=_seeded(seed)).to(latents.device)
    n = pipe.scheduler.config.num_train_timesteps
    slider = w.IntSlider(value=0, min=0, max=n - 1, step=10, description="t", continuous_update=False)
    picture, label = _image_widget(), w.HTML()

    def update(change=None):
        t = slider.value
        with _busy(label, [slider], tr("w_decoding", t=t), tr("w_show_xt", t=t)):
            im, a = noisy_image_at(pipe, latents, noise, t)
            picture.value = _png(im)
            label.value = tr("w_schedule", t=t, a=f"{a:.4f}", signal=f"{a**0.5:.3f}", noise=f"{(1 - a) ** 0.5:.3f}")

    slider.observe(update, names="value")
    update()
    return _explorer(w.VBox([slider, picture, label]))


# --------------------------------------------------------------------------------------------------
# notebook 02: guidance
# --------------------------------------------------------------------------------------------------
def guided_sample(
    pipe, prompt: str, guidance_scale: float, *, seed: int = 0, num_inference_steps: int = 50, eta: float = 0.0
) -> Image.Image:
    """One sample from a fixed seed (so only the knob you move changes the picture)."""
    if not isinstance(prompt, str):  # a list would give one picture and drop the rest
        raise ValueError(f"prompt must be one string (one picture), got {_show(prompt)}")
    gen = _seeded(seed)
    return sample(
        pipe,
        prompt,
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        eta=eta,
        generator=gen,
        progress=False,
    )[0]


def guidance_explorer(pipe, prompt: str, *, seed: int = 0, num_inference_steps: int = 50):
    """A prompt box and sliders for guidance and eta, with the sample from a fixed seed."""
    import ipywidgets as w

    if not isinstance(prompt, str):  # the text box would show None as an empty prompt, or refuse a list deep down
        raise ValueError(f"prompt must be a string, got {_show(prompt)}")
    _prompts(prompt)  # a character that is not text is named now, not in the label at the first redraw
    _seeded(seed)  # a bad seed or step count is named now, not only in the widget's label at the first redraw
    _check_steps(pipe, num_inference_steps)

    text = w.Text(value=prompt, description=tr("prompt"), layout=w.Layout(width="480px"), continuous_update=False)
    guidance = w.FloatSlider(
        value=5.0, min=0.0, max=15.0, step=0.5, description=tr("guidance"), continuous_update=False
    )
    eta = w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.1, description="eta", continuous_update=False)
    picture, label = _image_widget(), w.HTML()

    def update(change=None):
        settings = tr("w_settings", g=_num(guidance.value), eta=_num(eta.value))
        with _busy(
            label,
            [text, guidance, eta],
            tr("w_sampling_with", settings=settings),
            tr("w_sample_with", settings=settings),
        ):
            im = guided_sample(
                pipe, text.value, guidance.value, seed=seed, num_inference_steps=num_inference_steps, eta=eta.value
            )
            picture.value = _png(im)
            label.value = tr("w_seed", seed=seed, settings=settings)

    for control in (text, guidance, eta):
        control.observe(update, names="value")
    update()
    return _explorer(w.VBox([_with_prompt_note(text, pipe), guidance, eta, picture, label]))


# --------------------------------------------------------------------------------------------------
# notebook 04: start_step, inversion against img2img
# --------------------------------------------------------------------------------------------------
def compare_at_start_step(
    pipe, image, inversion: Inversion, start_step: int, *, guidance_scale: float | None = None, seed: int = 0
) -> dict:
    """Reconstruction from the inverted latent and img2img from fresh noise at one start_step, with PSNRs, at
    ``guidance_scale`` (None: the guidance the inversion was made at, as ``start_step_explorer``).

    ``image`` must be the picture ``inversion`` was made from (one picture): both are scored against it."""
    _check_pipe(pipe)
    if guidance_scale is None:  # what is not an Inversion is refused just below
        guidance_scale = inversion.guidance_scale if isinstance(inversion, Inversion) else 1.0
    guidance_scale = _check_guidance(guidance_scale)
    image = _inverted_picture(pipe, image, inversion)
    return _compare(pipe, image, inversion, start_step, guidance_scale, seed)


def _inverted_picture(pipe, image, inversion) -> Image.Image:
    """``image`` loaded as invert saw it, checked to be the one picture ``inversion`` was made from (a different one
    would score the reconstruction of one picture against another)."""
    if not isinstance(inversion, Inversion):
        raise ValueError(f"inversion must be an Inversion (what invert returns), got {type(inversion).__name__}")
    _check_same_model(pipe, inversion)
    if isinstance(image, torch.Tensor):
        raise ValueError("image must be the picture that was inverted (a PIL image or a file), not latents")
    clean = inversion.clean_latent
    if clean.shape[0] != 1:
        raise ValueError(
            f"this inversion holds {clean.shape[0]} pictures; compare one at a time: invert each picture on its own"
        )
    h, w = clean.shape[-2:]
    scale = pipe.vae_scale_factor
    image = load_image(image, size=(w * scale, h * scale))  # as invert saw it: the PSNRs compare like with like
    # far apart: another picture (a near twin can pass unnoticed; edit warns from 0.05, as it only ignores image)
    if picture_gap(pipe, image, inversion) > 0.5:
        raise ValueError(
            "image is not the picture this inversion was made from (their latents differ): pass the image you gave "
            "invert, or invert this one"
        )
    return image


def _compare(pipe, image, inversion, start_step, guidance_scale, seed) -> dict:
    """compare_at_start_step once its inputs are checked."""
    rec = reconstruct(pipe, inversion, start_step=start_step, guidance_scale=guidance_scale, progress=False)[0]
    other = img2img(
        pipe,
        image,
        inversion.prompt,
        start_step=start_step,
        guidance_scale=guidance_scale,
        num_inference_steps=inversion.num_inference_steps,
        generator=_seeded(seed),
        progress=False,
    )[0]
    return {
        "reconstruction": rec,
        "img2img": other,
        "psnr_reconstruction": psnr(image, rec),
        "psnr_img2img": psnr(image, other),
    }


def start_step_explorer(pipe, image, inversion: Inversion, *, guidance_scale: float | None = None):
    """A start_step slider: original, reconstruction and img2img side by side, at ``guidance_scale`` (None: the
    guidance the inversion was made at; another one leaves its path from the first step)."""
    import ipywidgets as w

    if not isinstance(inversion, Inversion):
        raise ValueError(f"inversion must be an Inversion (what invert(...) returns), got {_show(inversion)}")
    # checked now, not at the first redraw (only the label would say it)
    guidance_scale = _check_guidance(inversion.guidance_scale if guidance_scale is None else guidance_scale)
    _check_pipe(pipe)
    image = _inverted_picture(pipe, _picture(pipe, image), inversion)  # another model or picture: named now

    slider = w.IntSlider(
        value=10, min=0, max=inversion.num_inference_steps - 1, description="start_step", continuous_update=False
    )
    pics = [_image_widget(image), _image_widget(), _image_widget()]
    label = w.HTML()

    def update(change=None):
        s = slider.value
        with _busy(label, [slider], tr("w_comparing", s=s), tr("w_compare", s=s)):
            r = _compare(pipe, image, inversion, s, guidance_scale, 0)
            pics[1].value, pics[2].value = _png(r["reconstruction"]), _png(r["img2img"])
            label.value = tr(
                "w_compared",
                s=s,
                t=inversion.timestep_at(s),
                rec=f"{r['psnr_reconstruction']:.1f}",
                i2i=f"{r['psnr_img2img']:.1f}",
            )

    slider.observe(update, names="value")
    update()
    titles = [w.HTML(f"<b>{tr(t)}</b>") for t in ("w_original", "w_from_inversion", "w_img2img")]
    return _explorer(w.VBox([slider, w.HBox([w.VBox([t, p]) for t, p in zip(titles, pics)]), label]))


# --------------------------------------------------------------------------------------------------
# notebook 05: editing
# --------------------------------------------------------------------------------------------------
class EditExplorer:
    """Invert once, then edit as often as you like: a target prompt, start_step and guidance, and Apply."""

    def __init__(
        self,
        pipe,
        image,
        source_prompt: str,
        target_prompt: str,
        *,
        start_step: int | None = None,
        guidance_scale: float = 7.5,
        num_inference_steps: int = 50,
    ):
        """``start_step`` None: a fifth of the steps (10 of 50), as in ``edit``."""
        # checked before the inversion runs, against the sliders' ranges: a slider would quietly move a value
        # outside them (start_step=100 became 49, guidance 50 became 15) and Apply would use the moved value
        image, n, start_step = _edit_settings(
            pipe, image, source_prompt, target_prompt, start_step, num_inference_steps
        )
        guidance_scale = _real(guidance_scale, "guidance_scale", low=1, high=15, hint="the explorer's slider")
        self.pipe, self.image, self.source_prompt = pipe, image, source_prompt
        self.num_inference_steps = n
        self.inversion = invert(pipe, image, source_prompt, num_inference_steps=n, progress=False)
        self._inverted = self._settings()  # what self.inversion was made from
        self.target_prompt, self.start_step, self.guidance_scale = target_prompt, start_step, guidance_scale
        self.result: Image.Image | None = None
        self._widget = None
        self._controls = None  # the widget's (text, start, guidance, before, after, label), once it is made

    def _settings(self) -> tuple:
        """What the cached inversion depends on: the picture (pixel for pixel), the source prompt, the steps."""
        return _digest(self.image), self.source_prompt, self.num_inference_steps

    def apply(self) -> Image.Image:
        """Edit with the current settings, reusing the cached inversion (made again when the picture, the source
        prompt or the step count was changed since: the old one would edit the old settings).

        Once the widget is made, it is brought in line with the settings and the result: its sliders, its text box,
        its pictures and its label (``explorer.start_step = 20; explorer.apply()`` shows that edit, and the next
        Apply starts from it)."""
        if not isinstance(self.image, Image.Image):  # a path or URL, as the explorer takes when it is made
            self.image = _picture(self.pipe, self.image)
        if self._settings() != self._inverted:
            image, n, _ = _edit_settings(
                self.pipe, self.image, self.source_prompt, self.target_prompt, 0, self.num_inference_steps
            )
            self.inversion = invert(self.pipe, image, self.source_prompt, num_inference_steps=n, progress=False)
            self.image, self.num_inference_steps, self._inverted = image, n, self._settings()
        _default_start(self)  # start_step = None: edit's default, as the constructor reads it
        if self._controls is not None:  # checked against the sliders' ranges: a slider would quietly move a value
            self.start_step = _check_start_step(self.start_step, self.num_inference_steps)
            self.guidance_scale = _real(
                self.guidance_scale, "guidance_scale", low=1, high=15, hint="the explorer's slider"
            )
        self.result = edit(
            self.pipe,
            None,  # the cached inversion holds the picture
            self.source_prompt,
            self.target_prompt,
            start_step=self.start_step,
            guidance_scale=self.guidance_scale,
            num_inference_steps=self.num_inference_steps,
            inversion=self.inversion,
            progress=False,
        )[0]
        if self._controls is not None:
            self._show_result()
        return self.result

    def _show_result(self) -> None:
        """Put the settings and the latest result in the widget's controls, pictures and label."""
        text, start, guidance, before, after, label = self._controls
        text.value = self.target_prompt
        start.max = self.num_inference_steps - 1  # the step count may have changed since the widget was made
        start.value, guidance.value = self.start_step, self.guidance_scale
        before.value, after.value = _png(self.image), _png(self.result)
        g = _num(self.guidance_scale)
        label.value = _text(tr("w_edited", target=_quoted(self.target_prompt), s=self.start_step, g=g))

    def widget(self):
        import ipywidgets as w

        # checked again: settings changed since the explorer was made would be moved by the sliders without a word
        _default_start(self)
        self.start_step = _check_start_step(self.start_step, self.num_inference_steps)
        self.guidance_scale = _real(self.guidance_scale, "guidance_scale", low=1, high=15, hint="the explorer's slider")
        text = w.Text(value=self.target_prompt, description=tr("target"), layout=w.Layout(width="480px"))
        start = w.IntSlider(value=self.start_step, min=0, max=self.num_inference_steps - 1, description="start_step")
        guidance = w.FloatSlider(value=self.guidance_scale, min=1.0, max=15.0, step=0.5, description=tr("guidance"))
        button = w.Button(description=tr("apply"), button_style="primary")
        before, after, label = _image_widget(self.image), _image_widget(), w.HTML()

        mine = text, start, guidance, before, after, label

        def on_click(_=None):
            self._controls = mine  # this copy of the widget shows its own result (a second copy took them over)
            previous = self.target_prompt, self.start_step, self.guidance_scale
            self.target_prompt, self.start_step, self.guidance_scale = text.value, start.value, guidance.value
            target, g = _quoted(text.value), _num(guidance.value)
            # the busy text leaves start_step out: tests/test_browser.py waits for "start_step N" as the result
            doing = tr("w_editing_to", target=target, g=g)
            with _busy(label, [text, start, guidance, button], doing, tr("w_edit_to", target=target)):
                try:
                    self.apply()  # which shows the result and its settings in the widget
                except Exception:
                    # the explorer keeps the settings of the edit it shows, not the ones that failed
                    self.target_prompt, self.start_step, self.guidance_scale = previous
                    raise

        self._controls = mine
        button.on_click(on_click)
        on_click()
        self._widget = _explorer(
            w.VBox([_with_prompt_note(text, self.pipe), start, guidance, button, w.HBox([before, after]), label])
        )
        return self._widget


# --------------------------------------------------------------------------------------------------
# notebook 06: inversion methods
# --------------------------------------------------------------------------------------------------
class MethodExplorer:
    """Pick an inversion method (one of ``ddim_course.inversions.METHODS``) and a guidance: the reconstruction and
    an edit, side by side.

    Each inversion is computed once and kept: a method that inverts at guidance 1 (DDIM, negative-prompt) once per
    image, one whose inversion depends on the guidance (null-text, fixed-point, EDICT, DDPM) once per guidance.
    Switching back then only re-runs the reconstruction and the edit. ``method_options`` holds extra keyword
    arguments per method name: ``inner_steps`` goes to null-text. ``start_step`` None: a fifth of the steps (10
    of 50), as in ``edit``.
    """

    def __init__(
        self,
        pipe,
        image,
        source_prompt: str,
        target_prompt: str,
        *,
        start_step: int | None = None,
        inner_steps: int = 10,
        num_inference_steps: int = 50,
    ):
        image, num_inference_steps, start_step = _edit_settings(
            pipe, image, source_prompt, target_prompt, start_step, num_inference_steps
        )
        inner_steps = check_inner_steps(inner_steps)
        self.pipe, self.image, self.source_prompt, self.target_prompt = pipe, image, source_prompt, target_prompt
        self.start_step, self.num_inference_steps = start_step, num_inference_steps
        self.method_options: dict[str, dict] = {"null-text": {"inner_steps": inner_steps}}
        self.inversions: dict[tuple[str, float | None], Inversion] = {}
        self._inverted_with = self._settings()

    def _settings(self) -> tuple:
        """What every kept inversion depends on: the picture, the source prompt, the step count and the options."""
        options = repr(
            sorted((k, sorted(v.items()) if isinstance(v, dict) else v) for k, v in self.method_options.items())
        )
        return _digest(self.image), self.source_prompt, self.num_inference_steps, options

    def _forget_if_changed(self) -> None:
        """Drop the kept inversions when a setting they were made with has changed since (``method_options``, the
        picture, the source prompt or the step count): they would show the old settings' results."""
        side = image_size(self.pipe)
        if not (isinstance(self.image, Image.Image) and self.image.size == (side, side) and self.image.mode == "RGB"):
            self.image = _picture(self.pipe, self.image)  # a path, or a picture of another size, as when it was made
        now = self._settings()
        if now != self._inverted_with:
            self.inversions.clear()
            self._inverted_with = now

    @staticmethod
    def _key(method: str, guidance: float) -> tuple[str, float | None]:
        """(method name, guidance), the guidance only for a method whose result depends on it."""
        m = get_method(method)
        guidance = _real(
            guidance, "guidance", low=0, high=MAX_GUIDANCE, hint="0 = prompt ignored, 1 = no guidance, 7.5 is typical"
        )
        return m.name, round(guidance, 6) if m.per_guidance else None

    def inversion(self, method: str, guidance: float) -> Inversion:
        """The image inverted with ``method`` (a name of ``METHODS``, e.g. "ddim"), computed at most once for the
        current settings."""
        key = self._key(method, guidance)
        self._forget_if_changed()
        if key not in self.inversions:
            name = key[0]
            self.inversions[key] = METHODS[name](
                self.pipe,
                self.image,
                self.source_prompt,
                num_inference_steps=self.num_inference_steps,
                guidance_scale=guidance,
                progress=False,
                **self.method_options.get(name, {}),
            )
        return self.inversions[key]

    def show(self, method: str, guidance: float) -> tuple[Image.Image, Image.Image]:
        """(reconstruction from step 0, edit from ``start_step``), both at ``guidance``."""
        inv = self.inversion(method, guidance)
        _default_start(self)  # None, set since: the number is shown in the label
        rec = reconstruct(self.pipe, inv, start_step=0, guidance_scale=guidance, progress=False)[0]
        out = edit(
            self.pipe,
            None,  # the cached inversion holds the picture
            self.source_prompt,
            self.target_prompt,
            start_step=self.start_step,
            guidance_scale=guidance,
            num_inference_steps=self.num_inference_steps,
            inversion=inv,
            progress=False,
        )[0]
        return rec, out

    def _label(self, method: str) -> str:
        """The method's label, with the iterations ``method_options`` gives fixed-point (its label says 3)."""
        options = self.method_options.get(method, {}) if isinstance(self.method_options, dict) else {}
        k = options.get("iterations") if method == "fixed-point" and isinstance(options, dict) else None
        return f"fixed-point ({k} iteration{'' if k == 1 else 's'})" if k is not None else METHODS[method].label

    def widget(self, method: str = "negative-prompt", guidance: float = 7.5):
        import ipywidgets as w

        options = [(self._label(m.name), m.name) for m in METHODS.values()]
        levels = [1.0, 3.5, 7.5]
        if not isinstance(guidance, bool) and guidance not in levels:  # the lesson's own G (3.0...) joins the levels
            from .ddim import _check_guidance

            levels = sorted({*levels, _check_guidance(guidance)})
        guidance = _one_of(guidance, levels, "guidance")
        pick = w.Dropdown(options=options, value=get_method(method).name, description=tr("method"))
        scale = w.Dropdown(options=levels, value=guidance, description=tr("guidance"))
        pics, label = [_image_widget(self.image), _image_widget(), _image_widget()], w.HTML()

        def update(change=None):
            name, g = self._label(pick.value), _num(scale.value)
            doing = tr("w_sampling_at", g=g)
            # all inside _busy: an error raised out of a callback would go to JupyterLab's log, not under the cell
            with _busy(label, [pick, scale], doing, tr("w_show_method", name=name, g=g)):
                self._forget_if_changed()  # a picture set to a path that is not one, say
                if self._key(pick.value, scale.value) not in self.inversions:
                    label.value = _text(tr("w_inverting_and", name=name, doing=doing))
                rec, out = self.show(pick.value, scale.value)
                # the original too: explorer.image may have been changed since the widget was made
                pics[0].value, pics[1].value, pics[2].value = _png(self.image), _png(rec), _png(out)
                result = tr(
                    "w_method_result",
                    name=name,
                    g=g,
                    rec=f"{psnr(self.image, rec):.1f}",
                    target=_quoted(self.target_prompt),
                    s=self.start_step,
                )
                if pick.value == "direct":  # its reconstruction is no measure of the inversion: say so
                    result += tr("w_stored_path")
                label.value = _text(result)

        pick.observe(update, names="value")
        scale.observe(update, names="value")
        update()
        titles = [w.HTML(f"<b>{tr(t)}</b>") for t in ("w_original", "w_reconstruction", "w_edit")]
        return _explorer(w.VBox([w.HBox([pick, scale]), w.HBox([w.VBox([t, p]) for t, p in zip(titles, pics)]), label]))


# --------------------------------------------------------------------------------------------------
# notebook 07: prompt-to-prompt
# --------------------------------------------------------------------------------------------------
class PromptToPromptExplorer:
    """Pick an inversion, how long prompt-to-prompt replaces the attention and the local blend's threshold: the
    plain prompt swap and the controlled edit, side by side. Inversions are computed once per method and kept."""

    METHODS = ("ddim", "null-text", "negative-prompt", "direct")

    def __init__(
        self,
        pipe,
        image,
        source_prompt: str,
        target_prompt: str,
        *,
        guidance_scale: float = 7.5,
        num_inference_steps: int = 50,
        inner_steps: int = 10,
        blend_words=None,
    ):
        from .attention import PromptToPrompt, align_tokens, blend_positions

        # checked now, not at the first redraw (where the error would only show in the widget's label)
        guidance_scale = _real(guidance_scale, "guidance_scale", low=0, high=MAX_GUIDANCE, hint="7.5 is typical")
        checked = PromptToPrompt(blend_words=blend_words)
        blend_words = checked.blend_words
        self.methods = MethodExplorer(
            pipe,
            image,
            source_prompt,
            target_prompt,
            start_step=0,
            inner_steps=inner_steps,
            num_inference_steps=num_inference_steps,
        )
        # the words must be in the prompts (MethodExplorer has checked the prompts and the pipeline)
        blend_positions(pipe, checked, align_tokens(pipe, source_prompt, target_prompt), source_prompt, target_prompt)
        from .models import get_preset

        start = PromptToPrompt(**get_preset(pipe).prompt_to_prompt).blend_start
        n = self.methods.num_inference_steps
        if _blend_never_starts(start, n):  # the blend box ticked with no step to blend in: every redraw would fail
            need = math.ceil(1 / (1 - start) - 1e-9)
            raise ValueError(
                f"num_inference_steps={n} leaves the local blend no step to blend in (it starts after {start:g} of "
                f"the steps): use num_inference_steps={need} or more"
            )
        self.guidance_scale, self.blend_words = guidance_scale, blend_words

    def show(self, method: str, cross: float, self_: float, threshold: float | None) -> tuple[Image.Image, Image.Image]:
        """(plain prompt swap, prompt-to-prompt edit) from ``method``'s inversion; ``threshold`` None: no blend."""
        from .attention import PromptToPrompt
        from .models import get_preset

        m = self.methods
        inv = m.inversion(method, self.guidance_scale)
        common = dict(
            inversion=inv,
            start_step=0,
            guidance_scale=self.guidance_scale,
            num_inference_steps=m.num_inference_steps,
            progress=False,
        )
        swap = edit(m.pipe, None, m.source_prompt, m.target_prompt, **common)[0]
        settings = get_preset(m.pipe).prompt_to_prompt | {
            "cross_replace_steps": cross,
            "self_replace_steps": self_,
            "blend": threshold is not None,
            "blend_words": self.blend_words if threshold is not None else None,  # the blend's words, with the blend
        }
        if threshold is None:
            settings["blend_keep_words"] = None
        if threshold is not None:
            settings["blend_threshold"] = threshold
        p2p = edit(m.pipe, None, m.source_prompt, m.target_prompt, control=PromptToPrompt(**settings), **common)[0]
        return swap, p2p

    def widget(self, method: str = "direct", cross: float = 0.8, self_: float = 0.4, threshold: float = 0.5):
        import ipywidgets as w

        method = _one_of(get_method(method).name, self.METHODS, "method")
        slider = "the slider's range"
        cross, self_ = (
            _real(cross, "cross", low=0, high=1, hint=slider),
            _real(self_, "self_", low=0, high=1, hint=slider),
        )
        threshold = _real(threshold, "threshold", low=0.1, high=0.9, hint=slider)
        pick = w.Dropdown(
            options=[(METHODS[n].label, n) for n in self.METHODS], value=method, description=tr("inversion")
        )
        wide = {"description_width": "initial"}
        c = w.FloatSlider(
            value=cross,
            min=0,
            max=1,
            step=0.1,
            description=tr("cross_steps"),
            style=wide,
            continuous_update=False,
        )
        s = w.FloatSlider(
            value=self_, min=0, max=1, step=0.1, description=tr("self_steps"), style=wide, continuous_update=False
        )
        t = w.FloatSlider(
            value=threshold,
            min=0.1,
            max=0.9,
            step=0.1,
            description=tr("blend_threshold"),
            style=wide,
            continuous_update=False,
        )
        blend = w.Checkbox(value=True, description=tr("local_blend"))
        m = self.methods
        pics, label = [_image_widget(m.image), _image_widget(), _image_widget()], w.HTML()
        controls = [pick, c, s, t, blend]

        def update(change=None):
            name = METHODS[pick.value].label
            doing = tr("w_editing")
            # all inside _busy: an error raised out of a callback would go to JupyterLab's log, not under the cell
            with _busy(label, controls, doing, tr("w_edit_from", name=name)):
                m._forget_if_changed()
                if m._key(pick.value, self.guidance_scale) not in m.inversions:  # guidance_scale set to 1000, say
                    label.value = _text(tr("w_inverting_then", name=name, doing=doing))
                swap, p2p = self.show(pick.value, c.value, s.value, t.value if blend.value else None)
                # the original too: explorer.methods.image may have been changed since the widget was made
                pics[0].value, pics[1].value, pics[2].value = _png(m.image), _png(swap), _png(p2p)
                blended = tr("w_blend_above", t=_num(t.value)) if blend.value else tr("w_no_blend")
                label.value = _text(
                    tr(
                        "w_p2p_result",
                        name=name,
                        g=_num(self.guidance_scale),
                        swap=f"{psnr(m.image, swap):.1f}",
                        p2p=f"{psnr(m.image, p2p):.1f}",
                        c=_num(c.value),
                        s=_num(s.value),
                        blend=blended,
                    )
                )
            t.disabled = not blend.value  # the threshold does nothing without the blend

        for ctl in controls:
            ctl.observe(update, names="value")
        update()
        titles = [w.HTML(f"<b>{tr(x)}</b>") for x in ("w_original", "w_prompt_swap", "w_p2p")]
        return _explorer(
            w.VBox(
                [
                    w.HBox([pick, blend]),
                    w.HBox([c, s, t]),
                    w.HBox([w.VBox([x, p]) for x, p in zip(titles, pics)]),
                    label,
                ]
            )
        )
