import contextlib
import http.server
import subprocess
import sys
import threading
import time

import pytest
import torch

from ddim_course.pocket.model import (
    build_tokenizer,
    make_scheduler,
    make_text_encoder,
    make_unet,
    make_vae,
)


def python_c(code: str, *, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh interpreter, its output read as UTF-8 text (Windows' own is cp1252)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        cwd=cwd,
    )


def tiny_pipeline(prediction_type: str = "epsilon", seed: int = 0):
    """A tiny randomly initialised StableDiffusionPipeline (no download): 64x64 images, 16x16 latents."""
    torch.manual_seed(seed)
    tok = build_tokenizer()
    text = make_text_encoder(len(tok), tiny=True)
    return _assemble(tok, text, make_unet(tiny=True, cross_attention_dim=text.config.hidden_size), prediction_type)


def _assemble(tok, text, unet, prediction_type: str):
    """A StableDiffusionPipeline of these parts, the tiny VAE and SD's schedule with DDIM (no progress bars)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=make_vae(tiny=True),
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=DDIMScheduler.from_config(make_scheduler().config, prediction_type=prediction_type),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sd2_pipeline(prediction_type: str = "epsilon", seed: int = 0):
    """A tiny random pipeline shaped like Stable Diffusion 2.x, scaled down: an OpenCLIP-style text encoder (GELU,
    wider than SD 1's, standing for its 1024), a UNet with linear attention projections and per-block head counts,
    and, for the 768 model, v-prediction with upcast attention."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tok = build_tokenizer()
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tok),
            hidden_size=48,
            intermediate_size=96,
            num_hidden_layers=1,
            num_attention_heads=4,
            max_position_embeddings=16,
            hidden_act="gelu",
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            projection_dim=48,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=48,
        attention_head_dim=(2, 4, 4),
        use_linear_projection=True,
        upcast_attention=prediction_type == "v_prediction",
        norm_num_groups=8,
    )
    return _assemble(tok, text, unet, prediction_type)


@pytest.fixture(scope="session")
def pipe():
    return tiny_pipeline()


@pytest.fixture(scope="session")
def vpipe():
    return tiny_pipeline("v_prediction", seed=1)


@contextlib.contextmanager
def local_server(routes: dict):
    """An HTTP server on 127.0.0.1 serving ``routes``: path -> (content type, body, delay in seconds), or with a
    fourth item ``every``: the body is sent one byte every ``every`` seconds (a server that trickles). Other paths: 404.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path not in routes:
                self.send_error(404)
                return
            kind, body, delay, *trickle = routes[self.path]
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if trickle:
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(trickle[0])
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
