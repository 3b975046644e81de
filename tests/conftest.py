import contextlib
import http.server
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


def tiny_pipeline(prediction_type: str = "epsilon", seed: int = 0):
    """A tiny randomly initialised StableDiffusionPipeline (no download): 64x64 images, 16x16 latents."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    torch.manual_seed(seed)
    tok = build_tokenizer()
    text = make_text_encoder(len(tok), tiny=True)
    unet = make_unet(tiny=True, cross_attention_dim=text.config.hidden_size)
    vae = make_vae(tiny=True)
    sched = DDIMScheduler.from_config(make_scheduler().config, prediction_type=prediction_type)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=sched,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


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
