"""The pocket model's scenes, tokenizer and training script (smoke run)."""

import json

import numpy as np
import pytest
import torch

from ddim_course import load_pipeline, sample
from ddim_course.models import POCKET, POCKET_DIR, get_preset
from ddim_course.pocket.model import build_tokenizer, grammar_words
from ddim_course.pocket.scenes import COLORS, PATTERNS, SHAPES, draw_scene, draw_scenes, parse_caption


def test_scenes_are_deterministic_and_follow_the_contract():
    a, b = draw_scenes(40, seed=5), draw_scenes(40, seed=5)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert not np.array_equal(a[0].image, draw_scenes(1, seed=6)[0].image)
    for s in a:
        assert s.image.shape == (64, 64, 3) and s.image.dtype == np.float32
        assert parse_caption(s.caption) == (s.color, s.shape, s.pattern)
        background = s.image[s.mask == 0]
        assert np.allclose(background[:, 0], background[:, 1]) and np.allclose(background[:, 1], background[:, 2])
        assert 0.09 <= background.min() and background.max() <= 0.91
        inside = s.image[s.mask == 1]
        assert np.allclose(inside, inside[0], atol=1e-6)  # one flat colour
        assert inside[0].max() - inside[0].min() > 0.4  # saturated
        assert 0.3 * 64 - 1e-6 <= s.size <= 0.6 * 64 + 1e-6
        ys, xs = np.nonzero(s.mask > 0.5)
        assert abs(xs.mean() + 0.5 - s.center[0]) < 1.0 and abs(ys.mean() + 0.5 - s.center[1]) < 1.0


def test_scene_details_are_drawn_at_random_for_a_fixed_caption():
    a = draw_scene("red", "circle", "striped", seed=1)
    b = draw_scene("red", "circle", "striped", seed=2)
    assert a.caption == b.caption
    assert a.center != b.center and a.params != b.params
    assert {draw_scene("red", "square", "striped", seed=s).params["stripe_direction"] for s in range(30)} == {
        "horizontal",
        "vertical",
        "diagonal",
    }
    with pytest.raises(ValueError, match="color must be one of"):
        draw_scene("pink")


def test_tokenizer_has_one_token_per_grammar_word_and_never_crashes():
    tok = build_tokenizer()
    for w in grammar_words():
        assert len(tok(w).input_ids) == 3, w  # start, the word, end
    for text in ["", "a zebra on the moon!", "ünïcode ☃ ✓", "a" * 500]:
        ids = tok(text, truncation=True, max_length=tok.model_max_length).input_ids
        assert 2 <= len(ids) <= tok.model_max_length
    assert {*COLORS, *SHAPES, *PATTERNS} <= set(grammar_words())


def test_training_smoke_run_gives_a_loadable_pipeline(tmp_path):
    from diffusers import StableDiffusionPipeline

    from ddim_course.pocket.train import main

    out = main(["--out", str(tmp_path / "pocket"), "--smoke", "--no-progress"])
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["phase"] for r in log} >= {"vae", "unet", "latents", "done"}
    assert all(np.isfinite(r.get("loss", 0)) for r in log)
    assert not list(out.rglob("*.bin"))
    assert _text_encoder_keys(out)[0].startswith("text_model.")
    direct = StableDiffusionPipeline.from_pretrained(out)
    assert direct.tokenizer("a red circle").input_ids[:3] == build_tokenizer()("a red circle").input_ids[:3]
    pipe = load_pipeline(out, device="cpu", cache=False)
    assert get_preset(pipe).name == POCKET  # a pocket model trained to another folder gets the pocket settings
    images = sample(
        pipe,
        "a red circle on a striped background",
        num_inference_steps=3,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert images[0].size == (64, 64)
    with pytest.raises(SystemExit):  # never overwrites a finished run without --force
        main(["--out", str(out), "--smoke", "--no-progress"])
    before = (out / "train_log.jsonl").read_text(encoding="utf-8")
    main(["--out", str(out), "--smoke", "--no-progress", "--force", "--seed", "1"])  # a run is replaced with --force
    assert (out / "train_log.jsonl").read_text(encoding="utf-8") != before


def test_training_options_for_a_gpu_run(tmp_path, monkeypatch):
    """--workers draws the same chunks for any number of workers; --vae-from keeps the autoencoder and its scaling
    factor; --init-from goes on training a folder's models; --unet-minutes sets the step count from a measured step
    time and records it for a rerun."""
    from diffusers import UNet2DConditionModel

    from ddim_course.pocket import train

    monkeypatch.setattr(train, "CHUNK", 3)
    monkeypatch.setattr(train, "PROBE", (5, 15, 20))  # time steps 5..15, run at least 20
    a = train.draw_training_scenes(7, seed=1, workers=2)
    b = train.draw_training_scenes(7, seed=1, workers=3)
    assert len(a) == 7 and all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert np.array_equal(a[3].image, draw_scenes(1, seed=train.CHUNK_SEEDS + 1000 + 1)[0].image)
    first = train.main(["--out", str(tmp_path / "first"), "--smoke", "--no-progress"])
    out = train.main(
        ["--out", str(tmp_path / "second"), "--smoke", "--no-progress", "--vae-from", str(first)]
        + ["--unet-minutes", "0.001", "--workers", "2"]
    )
    again = train.main(  # a learning rate so small that going on from `first` leaves its UNet where it was
        ["--out", str(tmp_path / "third"), "--smoke", "--no-progress", "--init-from", str(first), "--unet-lr", "1e-12"]
    )
    for a, b in zip(
        UNet2DConditionModel.from_pretrained(first / "unet").parameters(),
        UNet2DConditionModel.from_pretrained(again / "unet").parameters(),
    ):
        assert torch.allclose(a, b, atol=1e-6)
    args = json.loads((out / "training_args.json").read_text(encoding="utf-8"))
    assert args["unet_steps"] == 20  # the floor: a thousandth of a minute is under any measured step time
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["phase"] for r in log} == {"latents", "unet", "done"}  # no autoencoder phase
    assert max(r["step"] for r in log if "loss" in r) == 19
    assert any(r.get("seconds_per_step", 0) > 0 for r in log)
    vae_a, vae_b = (json.loads((d / "vae" / "config.json").read_text(encoding="utf-8")) for d in (first, out))
    assert vae_a["scaling_factor"] == vae_b["scaling_factor"]
    assert (first / "vae" / "diffusion_pytorch_model.safetensors").read_bytes() == (
        out / "vae" / "diffusion_pytorch_model.safetensors"
    ).read_bytes()


def test_training_with_attention_at_16x16_gives_a_pipeline_the_editor_runs(tmp_path):
    """``--attention-16`` (a layout for a GPU run, tools/pocket_gpu) attends at the latent's full 16x16 as well; the
    pipeline it saves loads and runs prompt-to-prompt, whose local blend still reads the 8x8 maps."""
    from diffusers import UNet2DConditionModel

    from ddim_course import edit, load_pipeline
    from ddim_course.attention import PromptToPrompt
    from ddim_course.pocket.scenes import draw_scene
    from ddim_course.pocket.train import main

    out = main(["--out", str(tmp_path / "a16"), "--smoke", "--no-progress", "--attention-16"])
    unet = UNet2DConditionModel.from_pretrained(out / "unet")
    assert unet.config.down_block_types[0] == "CrossAttnDownBlock2D"
    assert unet.config.up_block_types[-1] == "CrossAttnUpBlock2D"
    assert json.loads((out / "training_args.json").read_text(encoding="utf-8"))["attention_16"] is True
    pipe = load_pipeline(str(out))
    before = dict(pipe.unet.attn_processors)
    assert any(name.startswith("down_blocks.0.attentions") for name in before)
    scene = draw_scene("red", "circle", "plain", seed=3)
    target = "a blue circle on a plain background"
    images = edit(
        pipe,
        scene.pil(),
        scene.caption,
        target,
        inversion="direct",
        control=PromptToPrompt(),
        num_inference_steps=3,
        start_step=0,
    )
    assert len(images) == 1 and images[0].size == (64, 64)
    assert all(pipe.unet.attn_processors[name] is proc for name, proc in before.items())  # put back after the call


@pytest.mark.parametrize(
    "extra, said",
    [
        (["--unet-steps", "0"], "--unet-steps must be at least 1"),
        (["--workers", "-2"], "--workers must be at least 1"),
        (["--workers", "100000"], "--workers must be at most 64"),
        (["--scenes", "1000000000"], "--scenes must be at most 200000"),
        (["--vae-batch", "5000"], "--vae-batch must be at most 1024"),
        (["--unet-minutes", "nan"], "--unet-minutes must be a number above 0"),
        (["--unet-lr=-1e-3"], "--unet-lr must be a number above 0"),
        (["--device", "tpu"], "--device must be"),
        (["--vae-steps", "1000000000000"], "--vae-steps must be at most 1000000"),
        (["--unet-minutes", "1e9"], "--unet-minutes must be at most 10080"),
        (["--device", "cuda:0"] if not torch.cuda.is_available() else ["--seed", "-1"], "--"),
        (["--vae-from", "no/such/folder"], "no vae/config.json there"),
        (["--init-from", "ddim_course/pocket/weights/vae"], "no vae/config.json there"),
        (["--init-from", "ddim_course/pocket/weights", "--vae-from", "x"], "leave out --vae-from"),
        (["--init-from", "ddim_course/pocket/weights", "--attention-16"], "--attention-16 builds a new UNet"),
    ],
)
def test_training_refuses_bad_arguments_by_name(tmp_path, capsys, extra, said):
    from ddim_course.pocket.train import main

    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "run"), "--smoke", "--no-progress", *extra])
    assert said in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_training_never_writes_through_a_link_or_over_a_file(tmp_path, capsys):
    from ddim_course.pocket.train import main

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (tmp_path / "link").symlink_to(theirs)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    for out in ("link", "notes.txt"):
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path / out), "--smoke", "--no-progress", "--force"])
        assert "is a link or a file" in capsys.readouterr().err
    assert list(theirs.iterdir()) == [] and (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_training_force_replaces_only_an_earlier_run(tmp_path, capsys):
    """--force on a folder of the learner's own (no training_args.json or model_index.json) is refused, and so is
    a run folder whose log or model folders are links to somewhere else."""
    from ddim_course.pocket.train import main

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["--out", str(mine), "--smoke", "--no-progress", "--force"])
    assert "holds no earlier run" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "training_args.json").write_text("{}", encoding="utf-8")
    (run / "train_log.jsonl").symlink_to(mine / "notes.txt")
    with pytest.raises(SystemExit):
        main(["--out", str(run), "--smoke", "--no-progress", "--force"])
    assert "train_log.jsonl is a link" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "mine"
    (run / "train_log.jsonl").unlink()
    (run / "unet").mkdir()
    (run / "unet" / "config.json").symlink_to(mine / "notes.txt")  # a link deeper inside: save_pretrained follows it
    with pytest.raises(SystemExit):
        main(["--out", str(run), "--smoke", "--no-progress", "--force"])
    assert "unet/config.json is a link" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_reader_reads_drawn_scenes():
    from ddim_course.pocket.reader import read_scene

    for s in draw_scenes(120, seed=123):
        r = read_scene(s.pil())
        assert (r.color, r.shape, r.pattern) == (s.color, s.shape, s.pattern), s.caption
        assert abs(r.center[0] - s.center[0]) < 1 and abs(r.center[1] - s.center[1]) < 1
    blank = np.full((64, 64, 3), 0.5, np.float32)
    r = read_scene(blank)
    assert r.color is None and r.shape is None and r.pattern == "plain"


# ------------------------------------------------------------------------------------------------
# the shipped pocket model (no skip: the course depends on it)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pocket():
    return load_pipeline("pocket", device="cpu")


def test_pocket_model_ships_as_a_small_safetensors_pipeline(pocket):
    from ddim_course.models import POCKET_DIR

    files = [p for p in POCKET_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 40 * 2**20
    assert any(p.suffix == ".safetensors" for p in files) and not any(p.suffix in (".bin", ".pt") for p in files)
    assert (POCKET_DIR / "README.md").exists()
    cfg = pocket.scheduler.config
    assert (cfg.beta_start, cfg.beta_end, cfg.beta_schedule, cfg.num_train_timesteps, cfg.prediction_type) == (
        0.00085,
        0.012,
        "scaled_linear",
        1000,
        "epsilon",
    )
    assert pocket.unet.config.sample_size * pocket.vae_scale_factor == 64
    # the layout Stable Diffusion's checkpoints use: transformers 4 (Colab) reads no other
    keys = _text_encoder_keys(POCKET_DIR)
    assert keys and all(k.startswith("text_model.") for k in keys), keys[:3]


def _text_encoder_keys(folder) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "text_encoder" / "model.safetensors"), "pt") as f:
        return sorted(f.keys())


def test_pocket_model_follows_a_prompt(pocket):
    from ddim_course.pocket.reader import read_scene

    prompts = [
        "a red circle on a plain background",
        "a blue square on a striped background",
        "a yellow triangle on a plain background",
        "a green circle on a checkered background",
    ]
    images = sample(pocket, prompts, guidance_scale=5.0, generator=torch.Generator().manual_seed(0), progress=False)
    reads = [read_scene(im) for im in images]
    colours = sum(r.color == p.split()[1] for r, p in zip(reads, prompts))
    shapes = sum(r.shape == p.split()[2] for r, p in zip(reads, prompts))
    assert colours == 4 and shapes >= 3, [(r.color, r.shape, r.pattern) for r in reads]


def test_pocket_model_inverts_reconstructs_and_edits(pocket):
    from ddim_course import decode, edit, encode, invert, psnr, reconstruct
    from ddim_course.models import PRESETS
    from ddim_course.pocket.reader import read_scene
    from ddim_course.pocket.scenes import COLORS, caption

    scenes = draw_scenes(8, seed=777)  # held out: training drew from seeds 1 and 2
    images = [s.pil() for s in scenes]
    inv = invert(pocket, images, [s.caption for s in scenes], progress=False)
    vae = np.mean([psnr(a, b) for a, b in zip(images, decode(pocket, encode(pocket, images)))])
    back = np.mean([psnr(a, b) for a, b in zip(images, reconstruct(pocket, inv, start_step=0, progress=False))])
    assert back > 28 and back > vae - 3, (back, vae)
    names = list(COLORS)
    new = [names[(names.index(s.color) + 1 + i % 5) % 6] for i, s in enumerate(scenes)]  # as the evaluation does
    preset = PRESETS["pocket"]
    edited = edit(
        pocket,
        images,
        [s.caption for s in scenes],
        [caption(c, s.shape, s.pattern) for c, s in zip(new, scenes)],
        start_step=preset.edit_start_step,
        guidance_scale=preset.edit_guidance,
        inversion=inv,
        progress=False,
    )
    reads = [read_scene(im) for im in edited]
    assert sum(r.color == c for r, c in zip(reads, new)) >= 6  # 47 of 48 in the evaluation; a broken edit gets ~1
    # the evaluation measures a median move of about 5 px on 48 scenes (target 3); this guards against worse
    moved = [np.hypot(r.center[0] - s.center[0], r.center[1] - s.center[1]) for r, s in zip(reads, scenes) if r.center]
    assert np.median(moved) < 8, moved


def test_null_text_reconstructs_the_pocket_model_at_high_guidance(pocket):
    from ddim_course import decode, encode, invert, psnr, reconstruct
    from ddim_course.inversions import METHODS

    scene = draw_scenes(1, seed=778)[0]
    image = scene.pil()
    vae = psnr(image, decode(pocket, encode(pocket, image))[0])
    ddim = invert(pocket, image, scene.caption, num_inference_steps=20, progress=False)
    plain = psnr(image, reconstruct(pocket, ddim, guidance_scale=7.5, progress=False)[0])
    nti = METHODS["null-text"](pocket, image, scene.caption, num_inference_steps=20, guidance_scale=7.5, progress=False)
    learned = psnr(image, reconstruct(pocket, nti, progress=False)[0])
    assert nti.info["learning_rate"] == 1e-1  # the registry passes the pocket preset's (the function's default: SD's)
    # measured: about 1-2 dB under the VAE round trip at 20 steps (0.4 dB at 50); plain DDIM at 7.5 is ~15 dB under
    assert learned > vae - 3 and learned > plain + 8, (learned, vae, plain)


def test_read_edit_tells_right_edits_from_wrong_and_moved_ones():
    from ddim_course.pocket.reader import read_edit
    from ddim_course.pocket.scenes import edit_scene

    source = draw_scene("red", "circle", "striped", seed=11)
    green = edit_scene(source, color="green")
    right = read_edit(source.image, green.image, "a green circle on a striped background")
    assert right.right and right.moved < 0.5 and str(right).startswith("reads green circle, striped, moved 0.")
    wrong = read_edit(source.image, green.image, "a blue circle on a striped background")
    assert not wrong.right
    elsewhere = draw_scene("green", "circle", "striped", seed=12)  # the same caption, drawn somewhere else
    moved = read_edit(source.image, elsewhere.image, "a green circle on a striped background")
    assert moved.right and moved.moved > 2
    blank = np.full_like(source.image, 0.5)  # grey: no saturated shape left
    lost = read_edit(source.image, blank, "a green circle on a plain background")
    assert not lost.right and "no shape" in str(lost) and "shape lost" in str(lost)
    with pytest.raises(ValueError, match="not a pocket caption"):
        read_edit(source.image, green.image, "a dog")


def test_pocket_vocabulary_is_shown_where_a_learner_types_a_prompt(pocket):
    import ipywidgets as w

    from ddim_course import get_preset
    from ddim_course.pocket import VOCABULARY
    from ddim_course.pocket.scenes import COLORS, PATTERNS, SHAPES
    from ddim_course.widgets import EditExplorer, _walk, guidance_explorer

    assert get_preset(pocket).prompt_note == VOCABULARY and get_preset("stable-diffusion-v1-5/x").prompt_note == ""
    assert all(word in VOCABULARY for word in (*COLORS, *SHAPES, *PATTERNS)) and "6 colours" in VOCABULARY
    image = draw_scene("red", "circle", "striped", seed=11).pil()
    boxes = [
        guidance_explorer(pocket, "a red circle on a plain background", num_inference_steps=2),
        EditExplorer(
            pocket,
            image,
            "a red circle on a striped background",
            "a green circle on a striped background",
            num_inference_steps=2,
            start_step=1,
        ).widget(),
    ]
    for box in boxes:
        notes = [p for p in _walk(box) if isinstance(p, w.HTML) and "6 colours" in p.value]
        assert len(notes) == 1


def test_training_names_a_damaged_folder_a_stopped_runs_leftover_and_a_line_break_in_out(tmp_path, capsys):
    """A damaged --vae-from or --init-from folder gave a traceback (after minutes of drawing scenes, for the UNet);
    a folder holding only a killed run's hidden .partial-* folder was 'not empty' to a learner whose ls shows none."""
    import shutil

    from ddim_course.pocket.train import TrainError, main

    shipped = POCKET_DIR
    garbled = tmp_path / "garbled"
    shutil.copytree(shipped / "vae", garbled / "vae")
    (garbled / "vae" / "config.json").write_text("garbage", encoding="utf-8")
    cut = tmp_path / "cut"
    shutil.copytree(shipped / "vae", cut / "vae")
    weights = cut / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for folder, said in ((garbled, "vae/config.json is not valid JSON"), (cut, "is damaged or incomplete")):
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path / "run"), "--smoke", "--no-progress", "--vae-from", str(folder)])
        assert said in capsys.readouterr().err
    other = tmp_path / "other"  # every file sound, but the weights of another model: named by the option
    shutil.copytree(shipped, other, ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(shipped / "text_encoder" / "model.safetensors", other / "unet" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(TrainError, match="--init-from .*: its unet could not be loaded"):
        main(["--out", str(tmp_path / "run"), "--smoke", "--no-progress", "--init-from", str(other)])
    assert not (tmp_path / "run").exists()  # the unfinished run was removed, and the folder made for it
    stopped = tmp_path / "stopped"
    (stopped / ".partial-x1y2z3").mkdir(parents=True)
    with pytest.raises(SystemExit):
        main(["--out", str(stopped), "--smoke", "--no-progress"])
    assert "holds only .partial-x1y2z3, the unfinished folder of a run that was stopped" in capsys.readouterr().err
    (stopped / ".partial-x1y2z3").rename(stopped / ".old-a1b2c3")  # stopped while moving a new run in
    with pytest.raises(SystemExit):
        main(["--out", str(stopped), "--smoke", "--no-progress"])
    assert "holds only .old-a1b2c3: your earlier run, set aside" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "a\nb"), "--smoke", "--no-progress"])
    assert "holds a control character" in capsys.readouterr().err


def test_a_training_run_ended_by_sigterm_leaves_out_as_it_was(tmp_path):
    """`timeout` or a closed terminal (SIGTERM, SIGHUP) ended Python at once and left the hidden .partial-* folder."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "ddim_course.pocket.train", "--out", str(out), "--no-progress"]
    child = subprocess.Popen(
        [*command, "--vae-steps", "100000", "--scenes", "64"],
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 120
    while not (out.exists() and any(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # inside the training loop
    child.send_signal(signal.SIGTERM)
    err = child.communicate(timeout=120)[1]
    assert child.returncode == 130, err[-2000:]
    assert "interrupted; --out was left as it was" in err and "Traceback" not in err
    assert not out.exists()  # made for this run, so removed with it
