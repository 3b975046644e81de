"""The measuring scripts run and print their tables (their numbers are judged by people, not by tests)."""

from ddim_course import load_pipeline
from ddim_course.bench import bench_overhead
from ddim_course.pocket.evaluate import main as evaluate


def test_evaluate_quick_prints_a_table(capsys):
    rows = evaluate(["--quick"])
    out = capsys.readouterr().out
    assert "| VAE round trip PSNR (dB, mean)" in out and "inversion minus img2img" in out
    assert len(rows) >= 15 and all(len(r) == 4 for r in rows)


def test_bench_overhead_table():
    table = bench_overhead(load_pipeline("pocket", device="cpu"), steps=5, repeats=1)
    assert "| sample (guided)" in table and "| invert (guidance 1)" in table
