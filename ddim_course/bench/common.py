"""What the benchmark tables share: their Markdown format and the images the quality tables use."""

from __future__ import annotations

from ..models import get_preset


def table(title: str, header: list[str], rows: list[list]) -> str:
    """A Markdown table under a ``###`` title, its columns padded to line up."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        f"### {title}",
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells[1:]]
    return "\n".join(lines)


def cases(pipe, n_images: int) -> list:
    """(image, caption) pairs: held-out drawn scenes for the pocket model, else the preset's image."""
    preset = get_preset(pipe)
    if preset.name == "pocket":
        from ..pocket.scenes import draw_scenes

        return [(s.pil(), s.caption) for s in draw_scenes(n_images, seed=20_000)]
    return [(preset.image(pipe), preset.source_prompt)][:n_images]
