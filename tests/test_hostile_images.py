"""Classes of bad input to the picture functions: what show_images draws is what the model reads, image modes whose
conversion was silently wrong, two bit depths compared as one, batches without a limit, and hints that pointed to
the wrong fix."""

import io
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from ddim_course import decode, encode, load_image, pil_to_tensor, psnr, show_images
from ddim_course.ddim import MAX_BATCH
from ddim_course.images import ImageLoadError
from ddim_course.metrics import as_array
from ddim_course.pocket.pie_tiny import pie_tiny, score
from ddim_course.pocket.scenes import draw_scene

matplotlib.use("Agg")


def _rotated_jpeg(w=64, h=32) -> Image.Image:
    """A w x h JPEG whose EXIF tag says: turn it a quarter (orientation 6), so it is read as h x w."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, "JPEG", exif=exif)
    return Image.open(io.BytesIO(buf.getvalue()))


def _drawn(fig, k=0) -> np.ndarray:
    return np.asarray(fig.axes[k].images[0].get_array())


def test_show_images_draws_a_picture_as_the_model_reads_it():
    import matplotlib.pyplot as plt

    grey = Image.fromarray(np.full((8, 8), 0.5, np.float32))  # mode F in [0, 1]: mid grey, not black
    fig = show_images([grey, _rotated_jpeg(), Image.new("RGBA", (8, 8), (255, 0, 0, 0))])
    assert np.array_equal(_drawn(fig, 0), np.asarray(load_image(grey)))
    assert _drawn(fig, 1).shape[:2] == (64, 32)  # turned as its EXIF tag says, as load_image turns it
    assert (_drawn(fig, 2) == 255).all()  # transparent pixels on white, not see-through
    plt.close(fig)


def test_a_crop_of_a_turned_photo_is_upright_and_is_not_turned_again_when_loaded():
    from ddim_course.images import resize_and_crop

    crop = resize_and_crop(_rotated_jpeg(64, 32), (20, 40))  # read upright, the photo is 32 wide and 64 high
    assert crop.size == (20, 40) and load_image(crop).size == (20, 40)  # its EXIF tag turned it a second time


def test_show_images_draws_a_mask_or_a_map_of_one_value_on_the_scale_0_to_1():
    import matplotlib.pyplot as plt

    full, white, half = np.ones((8, 8), bool), np.ones((8, 8)), np.full((8, 8), 0.5)
    fig = show_images([full, white, half, np.eye(8)])
    drawn = [a.images[0] for a in fig.axes[:4]]
    assert [im.get_clim() for im in drawn[:3]] == [(0, 1), (0, 1), (0, 1)]  # imshow drew all three black before
    assert drawn[3].get_clim() == (0.0, 1.0) and drawn[3].get_cmap().name == "gray"
    plt.close(fig)
    # 8 bits: a grey picture on 0-255 as PIL draws it (it was stretched to full contrast), 0s and 1s as a mask
    grey = (np.arange(64).reshape(8, 8) % 50 + 100).astype(np.uint8)
    fig = show_images([grey, np.eye(8, dtype=np.uint8), np.ones((8, 8), np.uint8)])
    assert [a.images[0].get_clim() for a in fig.axes[:3]] == [(0, 255), (0, 1), (0, 1)]
    plt.close(fig)


def test_show_images_cuts_a_title_of_a_million_characters():
    import matplotlib.pyplot as plt

    fig = show_images([np.zeros((4, 4))], titles=["x" * 10**6], suptitle="y" * 10**5)
    assert len(fig.axes[0].get_title()) < 400 and fig.axes[0].get_title().rstrip().endswith("…")
    assert len(fig._suptitle.get_text()) < 400
    plt.close(fig)


@pytest.mark.parametrize(
    "image, said",
    [
        (Image.new("LAB", (4, 4), (50, 0, 0)), "LAB colour space"),
        (Image.fromarray(np.full((4, 4), -5, np.int32)), "integer image holds values from -5"),
        (Image.fromarray(np.full((4, 4), 70000, np.int32)), "to 70000"),
        (Image.fromarray(np.full((4, 4), 300.0, np.float32)), "float image holds values up to 300"),
    ],
)
def test_image_modes_that_would_convert_wrong_are_named(image, said):
    with pytest.raises(ImageLoadError, match=said):
        load_image(image)


def test_an_animation_says_which_frame_is_read(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="has 2 frames"):
        im = load_image(tmp_path / "a.gif")
    assert im.getpixel((0, 0))[0] > 200  # the first frame
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(Image.new("RGB", (8, 8)))


def test_lists_of_photos_are_compared_by_their_size_as_read():
    turned, upright = _rotated_jpeg(64, 32), Image.new("RGB", (32, 64))  # both 32 x 64 once read
    assert pil_to_tensor([turned, upright]).shape == (2, 3, 64, 32)
    assert as_array([turned, upright]).shape == (2, 64, 32, 3)
    with pytest.raises(ValueError, match="different sizes"):
        pil_to_tensor([turned, Image.new("RGB", (64, 32))])  # numpy's "all input arrays must have the same shape"


def test_psnr_refuses_two_bit_depths_and_names_a_scene():
    a8 = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    with pytest.raises(ValueError, match=r"two bit depths \(uint8 and uint16\)"):
        psnr(a8, a8.astype(np.uint16) * 257, data_range=65535)  # the same picture: 4.9 dB before
    assert psnr(a8.astype(np.uint16) * 257, a8.astype(np.uint16) * 257, data_range=65535) == float("inf")
    b8 = a8.copy()
    b8[0, 0, 0] ^= 3
    assert psnr(a8, b8.astype(np.int64), data_range=255) == psnr(a8, b8, data_range=255)  # .astype(int): one scale
    scene = draw_scene("red", "circle", "plain", seed=1)
    with pytest.raises(ValueError, match=r"pass scene\.pil\(\)"):
        psnr(scene, scene.pil())


def test_draw_scene_takes_words_as_strings_only():
    with pytest.raises(ValueError, match="shape must be one of"):
        draw_scene("red", np.array(["triangle"]), seed=1)  # rng.choice(SHAPES, 1) gives this
    with pytest.raises(ValueError, match="pattern must be one of"):
        draw_scene("red", "circle", np.array(["plain", "dotted"]), seed=1)
    scene = draw_scene(np.str_("red"), np.str_("circle"), np.str_("plain"), seed=1)
    assert scene.caption == "a red circle on a plain background" and type(scene.shape) is str


def test_the_picture_functions_have_a_batch_limit_and_name_latents_of_the_wrong_size(pipe):
    with pytest.raises(ValueError, match=f"at most {MAX_BATCH} are decoded"):
        decode(pipe, torch.zeros(MAX_BATCH + 1, 4, 16, 16))
    with pytest.raises(ValueError, match=f"at most {MAX_BATCH} are encoded"):
        encode(pipe, [Image.new("RGB", (64, 64))] * (MAX_BATCH + 1))
    with pytest.warns(UserWarning, match="latents are about unit size"):
        decode(pipe, torch.full((1, 4, 16, 16), 1e4))


def test_score_says_how_to_pass_an_8_bit_edit():
    case = pie_tiny(1)[0]
    with pytest.raises(ValueError, match=r"integer array \(uint8\); pass the PIL image"):
        score(case, np.asarray(case.source.pil()))


def test_the_reader_reads_no_shape_in_a_canvas_of_one_colour_or_noise_and_no_colour_in_grey():
    """A canvas painted in the target colour was scored a right colour edit (15 of 30), read as a square that fills
    the frame; noise read as a red circle; a grey pixel was 'red'."""
    from ddim_course.pocket.reader import read_color, read_scene

    case = next(c for c in pie_tiny(4) if c.kind == "colour")
    rgb = np.array(draw_scene(case.target_prompt.split()[1], "square", "plain", seed=1).rgb)
    canvas = np.broadcast_to(rgb, (64, 64, 3)).astype(np.float32)
    assert read_scene(canvas).shape is None and not score(case, canvas)["right"]
    noise = np.random.default_rng(0).random((64, 64, 3))
    assert read_scene(noise).shape is None and read_scene(noise).color is None
    assert read_scene(case.truth.pil()).shape == case.truth.shape  # a real scene is still read
    with pytest.raises(ValueError, match="grey"):
        read_color(np.array([[0.5, 0.5, 0.5]]))


def test_a_scene_whose_shape_is_left_outside_is_refused_and_dark_8_bit_pictures_are_scored():
    with pytest.raises(ValueError, match="leaves 0.81 pixels of the 2-pixel circle"):
        draw_scene("red", "circle", seed=0, center=(0, 0), shape_size=2)
    assert draw_scene("red", "circle", seed=0, center=(3, 3), shape_size=20).mask.sum() > 100  # cut, kept
    black, nearly = np.zeros((8, 8, 3), np.uint8), np.ones((8, 8, 3), np.uint8)
    assert psnr(black, nearly, data_range=255) == pytest.approx(20 * np.log10(255))  # refused as "in [0, 1]" before


def test_the_plots_of_notebook_08_draw_every_point_and_refuse_what_they_cannot_draw():
    import matplotlib.pyplot as plt

    from ddim_course.plots import plot_error_against_calls, plot_residuals

    ax = plot_error_against_calls({("ddim", 1.0): (50, -3.0), ("ddim", 7.5): (100, -9.0)})  # no marker given
    assert all(len(a.collections) == 1 for a in ax)  # each drawn; they were left out without a word
    named = {("fixed-point, 3 iterations", 1.0): (200, -1.0), ("fixed-point 12", 1.0): (650, -0.5)}  # bench's names
    ax = plot_error_against_calls(named)
    assert sorted(t.get_text() for t in ax[0].texts) == ["k=12", "k=3"]  # the "x" of "fixed" was read as "x3" before
    with pytest.raises(ValueError, match="1 Axes for 2 panels"):
        plot_error_against_calls({("ddim", 1.0): (50, -3.0), ("ddim", 7.5): (100, -9.0)}, ax=plt.gca())
    with pytest.raises(ValueError, match="at most 12"):
        plot_residuals({k: [[1.0]] for k in range(13)})  # 1,000 took 11 minutes
    with pytest.raises(ValueError, match="finite sizes above 0"):
        plot_residuals({1: [[float("nan"), 2.0], [-1.0, 0.0]]})
    with pytest.raises(ValueError, match="a 0 cannot be drawn on the log axis"):  # it was drawn as nothing
        plot_residuals({7.5: [[1e-2, 0.0], [1e-3, 0.0]]})
    # a method at one guidance only: one colour per label in every panel, and every label in the legend
    ax = plot_error_against_calls(
        {("ddim", 1.0): (50, -3.0), ("edict", 1.0): (100, -1.0), ("edict", 7.5): (100, -2.0), ("nt", 7.5): (500, 0.0)}
    )
    colour = {a.get_title(): {c.get_label(): tuple(c.get_facecolor()[0]) for c in a.collections} for a in ax}
    assert colour["sampled back at guidance 1.0"]["edict"] == colour["sampled back at guidance 7.5"]["edict"]
    assert [t.get_text() for t in ax[-1].get_legend().get_texts()] == ["ddim", "edict", "nt"]
    ax = plot_residuals({1.0: np.ones((3, 4)), "fixed-point": np.ones((3, 2))})  # any key; the legend of all 4
    assert [a.get_title() for a in ax] == ["guidance 1.0", "fixed-point"]
    assert len(ax[-1].get_legend().get_texts()) == 4
    plt.close("all")


def test_show_images_names_an_empty_picture_and_tensor_to_pil_takes_a_grad_tensor_quietly():
    import warnings

    from ddim_course.images import tensor_to_pil

    for empty, shown in ((np.zeros((8, 0)), r"shape \(8, 0\)"), (Image.new("RGB", (0, 0)), "0 x 0 pixels")):
        with pytest.raises(ValueError, match=f"image 0 .*{shown}.*no pixels to show"):
            show_images(empty)  # numpy's "zero-size array to reduction operation" before
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warned about converting a tensor that requires grad
        assert tensor_to_pil(torch.rand(3, 8, 8, requires_grad=True))[0].size == (8, 8)
