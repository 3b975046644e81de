"""Prompt-to-prompt attention control (Hertz et al. 2022) through diffusers' attention processors. Notebook 07.

An edit runs two branches in one batch: the *source* branch (the source prompt, from the inverted latent) and the
*target* branch (the edited prompt, from the same latent). Prompt-to-prompt makes the target branch look at the
picture the way the source branch does:

- **word swap**: for the first ``cross_replace_steps`` of the run the target's cross-attention maps are the
  source's, token by token after aligning the two prompts with the pipeline's own tokenizer (``align_tokens``);
  for the first ``self_replace_steps`` its self-attention maps are the source's too (that keeps the layout);
- **local blend**: the cross-attention maps of the changed words make a mask (``blend_mask``); after each step,
  outside the mask the target latent is set to the source latent, so everything the edit does not name is kept.

The processors are installed for the duration of one call (``controlled``) and the pipeline's own are put back
afterwards, also when the call raises. ``cross_attention_maps`` records the maps for plotting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import re
import string
import unicodedata
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .ddim import _flag, _prompts, _real, _show, _whole

# --------------------------------------------------------------------------------------------------
# token alignment
# --------------------------------------------------------------------------------------------------


def _tokenizer(pipe_or_tokenizer):
    tok = getattr(pipe_or_tokenizer, "tokenizer", pipe_or_tokenizer)
    if not callable(tok) or not hasattr(tok, "model_max_length"):
        raise ValueError(f"expected a pipeline or its tokenizer, got {type(pipe_or_tokenizer).__name__}")
    return tok


def _tokenize(pipe_or_tokenizer, prompt: str, **padding):
    """(tokenizer, the prompt's token ids, cut at the tokenizer's length), the prompt checked first."""
    if not isinstance(prompt, str):
        raise ValueError(
            f"a prompt must be a string, got {type(prompt).__name__} (prompt-to-prompt edits one source prompt into "
            "one target prompt: give each as a string)"
        )
    _prompts(prompt)  # a character that is not text (a lone surrogate) is named here, not deep in the tokenizer
    tok = _tokenizer(pipe_or_tokenizer)
    return tok, list(tok(prompt, max_length=tok.model_max_length, truncation=True, **padding).input_ids)


def token_ids(pipe_or_tokenizer, prompt: str) -> list[int]:
    """The token ids the text encoder sees for ``prompt``: padded to the tokenizer's length, as ``encode_prompt``
    pads them (77 for Stable Diffusion's CLIP, 16 for the pocket model)."""
    return _tokenize(pipe_or_tokenizer, prompt, padding="max_length")[1]


def token_words(pipe_or_tokenizer, prompt: str) -> list[str]:
    """The tokens of ``prompt`` as text, start and end tokens included (padding left out: the prompt's own tokens,
    not "up to the first padding token", which an unknown character (the pocket tokenizer's unknown token is its end
    token) or a "!" (SD 2's padding) would cut short)."""
    return [t.replace("</w>", "") for t in _raw_tokens(pipe_or_tokenizer, prompt)]


def _raw_tokens(pipe_or_tokenizer, prompt: str) -> list[str]:
    """The tokens of ``prompt`` as the tokenizer writes them (CLIP marks the last piece of a word with "</w>")."""
    tok, ids = _tokenize(pipe_or_tokenizer, prompt)
    return [tok.convert_ids_to_tokens(i) for i in ids]


@dataclass
class TokenAlignment:
    """How the target prompt's tokens line up with the source prompt's (both padded to the same length).

    ``mapper[j, i]`` is how much target token j takes of source token i's attention map. A row sums to 1 for a token
    that takes one source token's map, to 0 for a token the source has no counterpart of (``own[j]`` marks those: they
    keep their own maps), and to m / n for the n tokens of a swapped word of m tokens: as in Hertz et al.'s code, they
    share the old word's maps summed, so the new word draws as much attention as the one it replaces.
    ``changed_source`` and ``changed_target`` are the positions of the words that differ (the local blend's words).
    """

    source_ids: list[int]
    target_ids: list[int]
    mapper: torch.Tensor
    own: torch.Tensor
    changed_source: list[int]
    changed_target: list[int]


# how CLIP's tokenizer cuts text before its BPE: letters, single digits, runs of other signs (punctuation is a word
# of its own, so "background." is the word "background" and the sign "."), and the English contractions
WORD_PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+")


def _pieces(text: str) -> list[str]:
    """``text`` cut as CLIP's tokenizer cuts it before its BPE (after its NFC normalization and lower case)."""
    return WORD_PIECES.findall(unicodedata.normalize("NFC", text).lower())


def _is_sign(piece: str) -> bool:
    """A piece with no letter or digit: punctuation, which is never one of the words an edit changes."""
    return not any(ch.isalnum() for ch in piece)


def _word_spans(tok, prompt: str) -> tuple[list[str], list[tuple[int, int]], int]:
    """The prompt's words, the token positions of each (after the start token), and where the end token sits.

    Only the words the text encoder sees: the tokenizer cuts a prompt at its length, and every word is a token at
    least, so a prompt of a million words is compared as its first few (not word by word, which would take hours)."""
    special = [
        s
        for s in getattr(tok, "all_special_tokens", [])
        if isinstance(s, str) and s in prompt and len(_pieces(s)) > 1  # "!", SD 2's padding, is a word as any other
    ]
    if special:  # read as one marker by the tokenizer, as '<|', 'endoftext', '|>' here: every later word misaligned
        raise ValueError(
            f"the prompt {_show(prompt)} holds {special[0]!r}, the tokenizer's own marker, which it reads as one "
            "token of its own (the end of the text, for CLIP's end token); take it out of the prompt"
        )
    words, spans, pos = [], [], 1
    last = tok.model_max_length - 1  # room for the end token
    for w in _pieces(prompt):
        if pos >= last:  # this word and all after it are cut off
            break
        n = len(tok(w, add_special_tokens=False).input_ids)
        words.append(w)
        spans.append((pos, min(pos + n, last)))
        pos += n
    return words, spans, min(pos, last)


def align_tokens(pipe_or_tokenizer, source_prompt: str, target_prompt: str) -> TokenAlignment:
    """Align two prompts token by token with the pipeline's tokenizer. Shown in notebook 07.

    The prompts are compared word by word; the tokens of equal words map to each other; a swapped word maps to the
    word it replaces (token by token when both have as many tokens, else the new word's n tokens share the old word's
    maps: each takes their sum over n, so the word's share of the attention stays what it was); an inserted word has
    no source counterpart and keeps its own map. The start token maps to the start token, the end token and the
    padding after it to the source's end and padding."""
    tok = _tokenizer(pipe_or_tokenizer)
    a, b = token_ids(tok, source_prompt), token_ids(tok, target_prompt)
    words_a, spans_a, end_a = _word_spans(tok, source_prompt)
    words_b, spans_b, end_b = _word_spans(tok, target_prompt)
    mapper = torch.zeros(len(b), len(a))
    own = torch.zeros(len(b), dtype=torch.bool)
    changed_a: list[int] = []
    changed_b: list[int] = []
    mapper[0, 0] = 1.0
    for p in range(end_b, len(b)):
        mapper[p, min(end_a + p - end_b, len(a) - 1)] = 1.0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=words_a, b=words_b, autojunk=False).get_opcodes():
        src = [k for s0, s1 in spans_a[i1:i2] for k in range(s0, s1)]
        tgt = [k for t0, t1 in spans_b[j1:j2] for k in range(t0, t1)]
        if tag != "equal":  # the changed words' tokens (a sign added or dropped changes no word)
            changed_a += [
                k for (w, (s0, s1)) in zip(words_a[i1:i2], spans_a[i1:i2]) if not _is_sign(w) for k in range(s0, s1)
            ]
            changed_b += [
                k for (w, (t0, t1)) in zip(words_b[j1:j2], spans_b[j1:j2]) if not _is_sign(w) for k in range(t0, t1)
            ]
        if tag == "insert" or not tgt:
            own[tgt] = True
            continue
        if i2 - i1 == j2 - j1:  # words swapped one for one ("red circle" -> "big square"): word to word
            pairs = [(list(range(*sa)), list(range(*sb))) for sa, sb in zip(spans_a[i1:i2], spans_b[j1:j2])]
        else:  # as many words on each side or not, the block as a whole
            pairs = [(src, tgt)]
        for src_k, tgt_k in pairs:
            if not src_k:  # a source word cut off at the tokenizer's length: nothing to borrow
                own[tgt_k] = True
            elif len(src_k) == len(tgt_k):  # equal words, or a swap with as many tokens
                for sk, tk in zip(src_k, tgt_k):
                    mapper[tk, sk] = 1.0
            else:  # Hertz et al.'s get_replacement_mapper_: the old word's maps summed, shared by the new tokens
                for tk in tgt_k:
                    mapper[tk, src_k] = 1.0 / len(tgt_k)
    return TokenAlignment(a, b, mapper, own, changed_a, changed_b)


# --------------------------------------------------------------------------------------------------
# the controller
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromptToPrompt:
    """Prompt-to-prompt settings (Hertz et al. 2022). Steps are fractions of the sampling steps an edit runs.

    ``cross_replace_steps``: the share of steps (from the noisiest) in which the target branch uses the source's
    cross-attention maps (P2P's default 0.8). ``self_replace_steps``: the same for self-attention (0.4), at the
    layers whose maps have at most ``self_replace_max_pixels`` pixels (P2P: 16 x 16 on SD's 64 x 64 latents; None =
    a sixteenth of the latent's pixels, the same rule on any model). ``blend``: local blend on or off;
    ``blend_threshold`` (0.3) on the changed words' maps, each scaled to a maximum of 1; ``blend_dilation`` grows the
    mask by that many attention-map pixels; ``blend_start`` is the share of steps before blending starts;
    ``blend_words`` the words whose maps make the mask (None: the words that differ between the two prompts);
    ``blend_keep_words`` words whose maps are taken out of the mask (P2P's code calls them ``substruct_words``): for an
    edit of the background, the object's words keep the object out of it.
    """

    cross_replace_steps: float = 0.8
    self_replace_steps: float = 0.4
    blend: bool = True
    blend_threshold: float = 0.3
    blend_dilation: int = 1
    blend_start: float = 0.2
    self_replace_max_pixels: int | None = None
    blend_words: tuple[str, ...] | None = None
    blend_keep_words: tuple[str, ...] | None = None

    def __post_init__(self):
        def keep(name, value):  # a frozen dataclass: store the checked, plain value
            object.__setattr__(self, name, value)

        for name in ("cross_replace_steps", "self_replace_steps", "blend_threshold", "blend_start"):
            keep(name, _real(getattr(self, name), name, low=0, high=1, hint="a share of the steps or of the map"))
        if self.blend_threshold == 1:
            raise ValueError(
                "blend_threshold must be below 1: the mask keeps what is above it, and no map is above its own "
                "maximum, so the edit would be thrown away (use blend=False for no local blend)"
            )
        d = _whole(self.blend_dilation, "blend_dilation")
        if not 0 <= d <= 8:
            raise ValueError(f"blend_dilation must be a whole number in [0, 8] (attention-map pixels), got {d!r}")
        keep("blend_dilation", d)
        keep("blend", _flag(self.blend, "blend"))
        if self.blend and self.blend_start == 1:
            raise ValueError(
                "blend_start must be below 1 when blending: it is the share of the steps before the local blend "
                "starts, so at 1 it never starts (use blend=False for no local blend)"
            )
        for name, none in (("blend_words", "the changed words"), ("blend_keep_words", "no words")):
            w = getattr(self, name)
            if w is not None:
                if isinstance(w, str) or not isinstance(w, (list, tuple)) or not w:
                    raise ValueError(
                        f"{name} must be None ({none}) or a tuple of words, like ('red', 'blue'), got {w!r}"
                    )
                if not all(isinstance(x, str) and x.strip() for x in w):
                    raise ValueError(f"each of {name} must be a word (a non-empty string), got {w!r}")
                keep(name, tuple(w))
        both = sorted(
            {w.strip().lower() for w in self.blend_keep_words or ()}
            & {w.strip().lower() for w in self.blend_words or ()}
        )
        if both:  # its maps would go into the mask and come out again: the edit would be thrown away
            raise ValueError(
                f"{both[0]!r} is in blend_words and in blend_keep_words; a word is blended or kept, not both"
            )
        m = self.self_replace_max_pixels
        if m is not None:
            m = _whole(m, "self_replace_max_pixels")
            if m < 1:
                raise ValueError(f"self_replace_max_pixels must be a whole number >= 1 or None, got {m!r}")
            keep("self_replace_max_pixels", m)


def blend_positions(
    pipe_or_tokenizer, controller: PromptToPrompt, alignment: TokenAlignment, source_prompt: str, target_prompt: str
) -> tuple[list[int], list[int]]:
    """Token positions of the local blend's words in the source and target prompts."""
    _check_controller(controller)
    if not isinstance(alignment, TokenAlignment):
        raise ValueError(f"alignment must be align_tokens(pipe, source_prompt, target_prompt), got {_show(alignment)}")
    if controller.blend_words is None:
        return alignment.changed_source, alignment.changed_target
    return _word_positions(pipe_or_tokenizer, controller.blend_words, source_prompt, target_prompt, "blend_words")


def keep_positions(
    pipe_or_tokenizer, controller: PromptToPrompt, source_prompt: str, target_prompt: str
) -> tuple[list[int], list[int]]:
    """Token positions of the words kept out of the local blend's mask in the source and target prompts."""
    _check_controller(controller)
    if controller.blend_keep_words is None:
        return [], []
    return _word_positions(
        pipe_or_tokenizer, controller.blend_keep_words, source_prompt, target_prompt, "blend_keep_words"
    )


def _check_controller(controller) -> None:
    if not isinstance(controller, PromptToPrompt):
        raise ValueError(f"controller must be a PromptToPrompt(...), got {_show(controller)}")


def _runs(pieces: list[str], word: list[str]) -> list[int]:
    """Where the pieces of ``word`` ("t-shirt": t, -, shirt) stand in a row in ``pieces``."""
    n = len(word)
    return [i for i in range(len(pieces) - n + 1) if n and pieces[i : i + n] == word]


def _word_positions(pipe_or_tokenizer, words, source_prompt: str, target_prompt: str, name: str):
    words = {w.strip().lower() for w in words}
    cut = {w: _pieces(w) for w in words}  # "t-shirt": t, -, shirt, in a row ("blue," is refused below, with a hint)
    tok = _tokenizer(pipe_or_tokenizer)
    found, seen = [], set()
    for prompt in (source_prompt, target_prompt):  # whole words: one the tokenizer splits gives all its tokens
        prompt_words, spans, _ = _word_spans(tok, prompt)
        positions = []
        for w, pieces in cut.items():
            for i in _runs(prompt_words, pieces):
                seen.add(w)
                positions += range(spans[i][0], spans[i + len(pieces) - 1][1])
        found.append(sorted(set(positions)))
    missing = sorted(words - seen)
    if missing:  # a misspelt word would quietly match nothing while the others do
        odd = [w for w in missing if len(w.split()) != 1 or w.strip(string.punctuation) != w.strip()]
        hint = f" (give single words without punctuation: {odd[0]!r} is not one)" if odd else ""
        if not odd and all(any(_runs(_pieces(p), cut[w]) for p in (source_prompt, target_prompt)) for w in missing):
            hint = (
                f" (it comes after the {tok.model_max_length} tokens the text encoder reads, so the model never sees "
                "it: shorten the prompt)"
            )
        which = f"none of {name} {sorted(words)} is" if not seen else f"{name} {missing[0]!r} is not"
        raise ValueError(f"{which} a word of either prompt{hint}")
    return found[0], found[1]


def as_controller(control, defaults: dict | None = None) -> PromptToPrompt | None:
    """``None`` (plain prompt swap), ``"prompt-to-prompt"`` (``PromptToPrompt(**defaults)``: the model preset's
    settings) or a ``PromptToPrompt``, used as it is."""
    if control is None or isinstance(control, PromptToPrompt):
        return control
    if isinstance(control, str) and control.strip().lower().replace("_", "-") in ("prompt-to-prompt", "p2p"):
        return PromptToPrompt(**(defaults or {}))
    raise ValueError(
        f"control must be None (prompt swap), 'prompt-to-prompt' or a PromptToPrompt(...), got {control!r}"
    )


def blend_mask(word_maps: torch.Tensor, threshold: float, *, dilation: int = 0, size=None) -> torch.Tensor:
    """Local blend's mask from cross-attention maps (Hertz et al. 2022). Shown in notebook 07.

    ``word_maps`` (batch, h, w): the summed maps of the blend's words. Grow them by ``dilation`` pixels (max-pool),
    resize to ``size`` (the latent's (h, w)), stretch each to [0, 1] (its minimum to 0, its maximum to 1) and keep
    what is above ``threshold``; a map with no range (the same everywhere) gives a full mask. Returns a float mask
    (batch, 1, h, w) of 0 and 1. (Hertz et al. divide by the maximum only: on Stable Diffusion a word's map is near 0
    away from its object, so it is the same there; the pocket model's maps stay far above 0 everywhere, their minimum
    about 0.3 of their peak for the colour and shape words of notebook 07's example and 0.7 for its pattern word and
    "background", so the minimum must come off first.)"""
    from .images import _odd_tensor

    if not isinstance(word_maps, torch.Tensor) or _odd_tensor(word_maps) or word_maps.ndim != 3:
        got = type(word_maps).__name__
        if isinstance(word_maps, torch.Tensor):
            got = _odd_tensor(word_maps) or tuple(word_maps.shape)
        raise ValueError(f"word_maps must be a real tensor of shape (batch, h, w), got {got}")
    if not torch.isfinite(word_maps).all():
        raise ValueError("word_maps hold NaN or infinite values: the maps of a model whose attention went wrong")
    threshold = _real(threshold, "threshold", low=0, high=1, hint="a share of the map's range")
    if threshold == 1:
        raise ValueError("threshold must be below 1: no map is above its own maximum, so the mask would be empty")
    dilation = _whole(dilation, "dilation")
    if not 0 <= dilation <= 8:
        raise ValueError(f"dilation must be a whole number in [0, 8] (attention-map pixels), got {dilation!r}")
    if min(word_maps.shape) == 0:
        raise ValueError(f"word_maps is empty, shape {tuple(word_maps.shape)}: it needs a batch and an h x w map")
    if size is not None:
        ok = isinstance(size, (tuple, list, torch.Size)) and len(size) == 2
        size = tuple(_whole(v, "size") for v in size) if ok else None
        if size is None or not all(1 <= v <= 4096 for v in size):
            raise ValueError("size must be the latent's (h, w): two whole numbers in [1, 4096]")
        if word_maps.shape[0] * size[0] * size[1] > 2**26:  # 256 MB of float32 masks; SD's latents are 64 x 64
            raise ValueError(
                f"{word_maps.shape[0]} maps at {size[0]} x {size[1]} is too much to make at once; give fewer maps or "
                "the latent's own size"
            )
    wide = torch.float32 if word_maps.device.type == "mps" else torch.float64  # MPS has no float64
    maps = word_maps.to(wide)[:, None]  # float64: a range near float32's limit does not overflow
    if dilation:
        maps = F.max_pool2d(maps, 2 * dilation + 1, stride=1, padding=dilation)
    if size is not None and tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)
    flat = maps.flatten(1)
    low, high = flat.amin(dim=1)[:, None, None, None], flat.amax(dim=1)[:, None, None, None]
    spread = high - low
    stretched = (maps - low) / spread.clamp_min(1e-300)
    flat_map = spread <= 0  # a map the same everywhere prefers no place: the mask is everything (the edit is kept)
    return torch.where(flat_map, torch.ones_like(maps), (stretched > threshold).to(wide)).float()


@dataclass
class _Run:
    """What the processors need during one call: which batch rows are which branch, the step, what to do."""

    rows: int  # batch rows of the UNet call (a call with another batch is left alone)
    source_rows: slice | None  # the source branch's conditional rows
    target_rows: slice | None  # the target branch's conditional rows
    alignment: TokenAlignment | None = None
    controller: PromptToPrompt | None = None
    steps: int = 1
    step: int = 0
    record: bool = False  # keep every cross-attention map (for plotting)
    latent_hw: tuple[int, int] = (0, 0)  # the latent's (h, w): the maps of a wide image are wide too
    maps: dict = field(default_factory=dict)  # side -> summed (batch, side, side, tokens) of the recorded rows
    blend_source: list[int] = field(default_factory=list)  # token positions of the blend's words in each prompt
    blend_target: list[int] = field(default_factory=list)
    blend_maps: dict = field(default_factory=dict)  # "source"/"target" -> {side: summed (batch, side, side)}
    keep_source: list[int] = field(default_factory=list)  # token positions of the words kept out of the mask
    keep_target: list[int] = field(default_factory=list)
    keep_maps: dict = field(default_factory=dict)  # as blend_maps, for those words
    _mappers: dict = field(default_factory=dict)  # (device, dtype) -> the alignment's mapper and own there
    last_masks: tuple | None = None  # the last step's mask of the blend words, and that less the kept words'

    @property
    def latent_pixels(self) -> int:
        return self.latent_hw[0] * self.latent_hw[1]

    def _active(self, share: float) -> bool:
        return self.step < share * self.steps

    def wants(self, is_cross: bool, pixels: int) -> bool:
        c = self.controller
        if is_cross:
            if self.record or (c is not None and self._active(c.cross_replace_steps)):
                return True
            return c is not None and c.blend and self._blend_needs(pixels)
        if c is None or not self._active(c.self_replace_steps):
            return False
        limit = c.self_replace_max_pixels or max(1, self.latent_pixels // 16)
        return pixels <= limit

    def control(self, probs: torch.Tensor, is_cross: bool, heads: int) -> torch.Tensor:
        """Attention probabilities (batch * heads, pixels, keys) -> the controlled ones."""
        b = probs.shape[0] // heads
        p = probs.view(b, heads, *probs.shape[1:])
        hw = self.grid(p.shape[2])
        c = self.controller
        if c is not None and self.source_rows is not None:
            # ``probs`` is this call's own softmax output: its target rows are overwritten in place
            src, tgt = p[self.source_rows], p[self.target_rows]
            if is_cross and self._active(c.cross_replace_steps):
                mapper, own = self._mapper(p)
                if mapper is None:  # a word swap of prompts of one length: each token takes its source twin's map
                    p[self.target_rows] = src
                else:
                    p[self.target_rows] = torch.where(own, tgt, torch.einsum("bhpk,tk->bhpt", src, mapper))
            elif not is_cross:
                p[self.target_rows] = src
        if is_cross:  # the maps the target branch actually uses (the source's, while they are replaced)
            self._remember(p, hw)
        return p.reshape(probs.shape)

    def _mapper(self, p: torch.Tensor):
        """The alignment's mapper and ``own`` on ``p``'s device and dtype, made once; (None, None) when the mapper
        is the identity and no token keeps its own map (then the target takes the source's maps as they are)."""
        key = (p.device, p.dtype)
        if key not in self._mappers:
            a = self.alignment
            mapper, own = a.mapper.to(p.device, p.dtype), a.own.to(p.device)
            eye = torch.eye(mapper.shape[0], mapper.shape[1], device=p.device, dtype=p.dtype)
            plain = mapper.shape[0] == mapper.shape[1] and torch.equal(mapper, eye) and not bool(own.any())
            self._mappers[key] = (None, None) if plain else (mapper, own)
        return self._mappers[key]

    def grid(self, pixels: int) -> tuple[int, int]:
        """The (h, w) of an attention layer with ``pixels`` pixels: the latent's shape, scaled down."""
        if self.latent_pixels:
            h0, w0 = self.latent_hw
            h = max(1, round(h0 / math.sqrt(h0 * w0 / pixels)))
            if pixels % h == 0:
                return h, pixels // h
        side = int(round(math.sqrt(pixels)))
        return side, side

    def _blend_needs(self, pixels: int) -> bool:
        """Whether the local blend needs the maps of a layer with ``pixels`` pixels: in the first step every
        resolution coarser than the latent (to learn which is the finest), afterwards that finest one only (``mask``
        uses no other, and skipping the rest keeps prompt-to-prompt's cost near the extra batch rows')."""
        if pixels >= self.latent_pixels:
            return False
        sides = self.blend_maps.get("target") or self.blend_maps.get("source")
        return self.step == 0 or not sides or self.grid(pixels)[0] == max(sides)

    def _remember(self, p: torch.Tensor, hw: tuple[int, int]) -> None:
        (side, width) = hw  # maps are keyed by their height (their side, for a square latent)
        if self.record:
            rows = p[self.target_rows if self.target_rows is not None else slice(None)].mean(dim=1)  # over heads
            grid = rows.reshape(rows.shape[0], side, width, rows.shape[-1]).float()
            self.maps[side] = self.maps.get(side, 0) + grid
        c = self.controller
        if c is None or not c.blend or not self._blend_needs(side * width):
            return
        for store, branch, rows, words in (
            (self.blend_maps, "source", self.source_rows, self.blend_source),
            (self.blend_maps, "target", self.target_rows, self.blend_target),
            (self.keep_maps, "source", self.source_rows, self.keep_source),
            (self.keep_maps, "target", self.target_rows, self.keep_target),
        ):
            if words:
                m = p[rows][..., words].mean(dim=1).sum(-1).reshape(-1, side, width).float()
                per_side = store.setdefault(branch, {})
                per_side[side] = per_side.get(side, 0) + m

    def mask(self, size) -> torch.Tensor | None:
        """The local blend's mask after this step (None before ``blend_start`` or without words to blend).

        It uses the maps summed over the steps so far at the finest resolution coarser than the latent (8 x 8 on
        the pocket model, 32 x 32 on SD 1.5), of the source's words and of the target's (their union), less the
        union of the kept words' masks."""
        c = self.controller
        if c is None or not c.blend or not self.blend_maps or self.step < c.blend_start * self.steps:
            return None
        # each map is stretched on its own, so the branches' maps go through blend_mask as one batch
        maps = [per_side[max(per_side)] for per_side in self.blend_maps.values()]
        masks = blend_mask(torch.cat(maps), c.blend_threshold, dilation=c.blend_dilation, size=size)
        mask = masks.view(len(maps), -1, *masks.shape[1:]).amax(dim=0)
        blended = mask
        kept = [per_side[max(per_side)] for per_side in self.keep_maps.values()]
        if kept:
            kept_masks = blend_mask(torch.cat(kept), c.blend_threshold, size=size)
            mask = mask * (1 - kept_masks.view(len(kept), -1, *kept_masks.shape[1:]).amax(dim=0))
        self.last_masks = (blended, mask)  # read once, after the run (editing._warn_if_blend_was_off)
        return mask


class _Processor:
    """An attention processor that hands the probabilities to ``run.control``; otherwise the pipeline's own."""

    def __init__(self, run: _Run, original):
        self.run, self.original = run, original

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        is_cross = encoder_hidden_states is not None
        pixels = hidden_states.shape[1] if hidden_states.ndim == 3 else math.prod(hidden_states.shape[2:])
        if hidden_states.shape[0] != self.run.rows or not self.run.wants(is_cross, pixels):
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        shape4 = hidden_states.shape if hidden_states.ndim == 4 else None
        if shape4 is not None:
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        context = hidden_states if not is_cross else encoder_hidden_states
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        mask = attn.prepare_attention_mask(attention_mask, context.shape[1], hidden_states.shape[0])
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        probs = self.run.control(attn.get_attention_scores(query, key, mask), is_cross, attn.heads)
        out = attn.batch_to_head_dim(torch.bmm(probs, value))
        out = attn.to_out[1](attn.to_out[0](out))
        if shape4 is not None:
            out = out.transpose(1, 2).reshape(shape4)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


@contextlib.contextmanager
def controlled(pipe, run: _Run):
    """Install ``run``'s processors on every attention layer of ``pipe.unet`` for the ``with`` block; the
    pipeline's own processors (the same objects) are put back afterwards, also when the block raises."""
    unet = pipe.unet
    before = dict(unet.attn_processors)
    unet.set_attn_processor({name: _Processor(run, proc) for name, proc in before.items()})
    try:
        yield run
    finally:
        unet.set_attn_processor(before)


# --------------------------------------------------------------------------------------------------
# maps for plotting
# --------------------------------------------------------------------------------------------------
@dataclass
class AttentionMaps:
    """Cross-attention maps averaged over heads, layers and steps: ``maps[side]`` is (tokens, side, side) for
    each resolution the UNet attends at ((tokens, h, w), keyed by h, for a latent that is not square); ``tokens``
    are the prompt's tokens as text (start and end included)."""

    tokens: list[str]
    maps: dict[int, torch.Tensor]
    # which tokens end a word (CLIP's "</w>"), so that word() finds whole words only; None: any run of tokens
    word_ends: list[bool] | None = None

    def __post_init__(self):
        if not isinstance(self.tokens, (list, tuple)) or not all(isinstance(t, str) for t in self.tokens):
            raise ValueError(f"tokens must be a list of the prompt's tokens as strings, got {_show(self.tokens)}")
        self.tokens = list(self.tokens)
        if not isinstance(self.maps, dict):
            raise ValueError(f"maps must be a dict of side -> (tokens, h, w) tensor, got {_show(self.maps)}")
        for side, m in self.maps.items():
            plain = isinstance(m, torch.Tensor) and not m.is_meta and m.dtype.is_floating_point
            if not plain or m.ndim != 3 or m.shape[0] != len(self.tokens):
                shape = f"{m.dtype} {tuple(m.shape)}" if isinstance(m, torch.Tensor) else _show(m)
                raise ValueError(
                    f"maps[{side!r}] must be a float (tokens, h, w) tensor with data, one map per token "
                    f"({len(self.tokens)}), got {shape}"
                )
            if not bool(torch.isfinite(m).all()):
                raise ValueError(f"maps[{side!r}] holds NaN or infinite values; attention maps are shares in [0, 1]")
        if self.word_ends is not None:
            ends = self.word_ends
            if (
                not isinstance(ends, (list, tuple))
                or len(ends) != len(self.tokens)
                or not all(isinstance(e, bool) for e in ends)
            ):
                raise ValueError(
                    f"word_ends must be None or one True/False per token ({len(self.tokens)}), got {_show(ends)}"
                )
            self.word_ends = list(ends)

    def word(self, word: str, side: int | None = None, *, occurrence: int | None = None) -> torch.Tensor:
        """The map of ``word`` at resolution ``side`` (default: the finest). A word the tokenizer cut into pieces
        ("watercolor" is "water" and "color" to CLIP) gives the mean of its pieces' maps. A word the prompt holds twice
        ("a red circle and a red square"): ``occurrence`` 0 is the first, 1 the second; None gives their mean, with a
        warning."""
        if not isinstance(word, str):
            raise ValueError(f"word must be a string, one of the prompt's tokens {self.tokens[1:-1]}, got {word!r}")
        if not self.maps:
            raise ValueError("these AttentionMaps hold no maps: make them with cross_attention_maps(pipe, inversion)")
        if side is None:
            side = max(self.maps)
        else:
            try:
                side, shown = _whole(side, "side"), f"{side} x {side}"
            except ValueError:
                shown = f"side={side!r}" if isinstance(side, (str, int, float)) else type(side).__name__
            if not isinstance(side, int) or side not in self.maps:
                raise ValueError(
                    f"no maps at {shown}; the UNet attends at {sorted(self.maps)}: pass side as one of those numbers"
                )
        runs = self._runs(word)
        if not runs:
            raise ValueError(f"{word!r} is not one of the prompt's words {self._words()[1:-1]}")
        if occurrence is not None:
            k = _whole(occurrence, "occurrence")
            if not 0 <= k < len(runs):
                raise ValueError(
                    f"occurrence must be in [0, {len(runs) - 1}]: {word!r} occurs {len(runs)} time(s), got {k}"
                )
            runs = [runs[k]]
        elif len(runs) > 1:  # two places in the picture: their mean is neither
            where = [r[0] if len(r) == 1 else r for r in runs]
            warnings.warn(
                f"{word!r} occurs {len(runs)} times in the prompt (tokens {where}); this map is their mean: pass "
                "occurrence=0, 1, ... for one of them",
                stacklevel=2,
            )
        # a word the tokenizer cut into pieces ("watercolor" -> "water", "color"): the mean of its pieces' maps
        return torch.stack([self.maps[side][r].mean(0) for r in runs]).mean(0)

    @staticmethod
    def _spelt(text: list[str], ends: list[bool], i: int, j: int) -> list[str]:
        """The words tokens ``i`` to ``j`` spell (``ends``: where each word ends)."""
        words, piece = [], ""
        for k in range(i, j + 1):
            piece += text[k]
            if ends[k]:
                words.append(piece)
                piece = ""
        return words + [piece] * bool(piece)

    def _words(self) -> list[str]:
        """The tokens joined into the words they spell (each token alone when the word ends are not known)."""
        if self.word_ends is None:
            return list(self.tokens)
        return self._spelt(self.tokens, self.word_ends, 0, len(self.tokens) - 1)

    def _runs(self, word: str) -> list[list[int]]:
        """Where ``word`` sits among the tokens: one list of token positions per occurrence (one position for a
        word of one token, several for a word the tokenizer cut into pieces). Case is not compared; where the word
        ends are known, the spaces of ``word`` must fall where the prompt's words end ("red circle" is two words;
        "ona" is not "on a")."""
        asked = unicodedata.normalize("NFC", word).lower().split()
        key = "".join(asked)
        if not key:
            return []
        text = [unicodedata.normalize("NFC", t).lower() for t in self.tokens]
        ends = self.word_ends
        runs = []
        for i in range(len(text)):
            if not text[i] or (ends is not None and i > 1 and not ends[i - 1]):  # a run starts a word
                continue
            joined = ""
            for j in range(i, len(text)):
                joined += text[j]
                if not key.startswith(joined):
                    break
                if joined == key and (ends is None or ends[j]):  # ... and ends one
                    # word for word, as the tokenizer cuts words ("t-shirt" is "t", "-", "shirt"; "ona" is not "on a")
                    if ends is None or self._spelt(text, ends, i, j) == [p for w in asked for p in _pieces(w)]:
                        runs.append(list(range(i, j + 1)))
                    break
        return runs


@torch.inference_mode()
def cross_attention_maps(pipe, inversion, *, prompt: str | None = None, start_step: int = 0) -> AttentionMaps:
    """Sample ``inversion`` back (as ``reconstruct`` does) and record where each token of the prompt looks.

    Shown in notebook 07. Only the first image of the inversion is recorded."""
    from .ddim import Inversion, _check_pipe, reconstruct

    _check_pipe(pipe)
    if not isinstance(inversion, Inversion):
        raise ValueError(f"inversion must be an Inversion, got {type(inversion).__name__}")
    prompt = inversion.prompt if prompt is None else prompt
    if isinstance(prompt, (list, tuple)) and prompt:
        prompt = prompt[0]  # the maps are recorded for the first image only
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string (or None: the inversion's prompt), got {type(prompt).__name__}")
    if inversion.method == "direct":  # its source branch is the trajectory itself: retrace it at guidance 1
        inversion = dataclasses.replace(inversion, method="ddim", guidance_scale=1.0)
    batch = inversion.latents[0].shape[0]
    guided = inversion.guidance_scale != 1
    rows = 2 * batch if guided else batch
    hw = tuple(inversion.latents[0].shape[-2:])
    run = _Run(rows, None, slice(rows - batch, rows - batch + 1), record=True, latent_hw=hw)
    with controlled(pipe, run):
        reconstruct(pipe, inversion, prompt=prompt, start_step=start_step, output_type="latent", progress=False)
    if not run.maps:
        raise ValueError(
            f"no cross-attention maps were recorded while sampling this {inversion.method!r} inversion back (its "
            "sampler calls the model its own way); use a 'ddim', 'null-text', 'negative-prompt' or 'direct' inversion"
        )
    raw = _raw_tokens(pipe, prompt)
    tokens = [t.replace("</w>", "") for t in raw]
    special = set(_tokenizer(pipe).all_special_tokens)  # the pocket tokenizer's unknown token is its end token
    # a word ends at its "</w>", at a special token, and before one (a word the tokenizer's length cut short)
    ends = [
        t.endswith("</w>") or t in special or (i + 1 < len(raw) and raw[i + 1] in special) for i, t in enumerate(raw)
    ]
    maps = {
        side: m[0, :, :, : len(tokens)].permute(2, 0, 1) / max(m[0].sum(-1).mean().item(), 1e-12)
        for side, m in run.maps.items()
    }
    return AttentionMaps(tokens, maps, ends if any(ends) else None)
