"""Benchmarks that print tables:
``python -m ddim_course.bench [overhead|cost|widgets|inversions|edits|course|sd15|all]``.

One module a table; none of the course's own modules imports this package:

- ``overhead``: ``sample`` and ``invert`` against a bare loop of the same UNet calls;
- ``cost``: inversion at guidance 1 against guided inversion;
- ``widgets``: each explorer's re-render time;
- ``inversions``: the methods of ``ddim_course.inversions.METHODS``, reconstruction against UNet calls at
  guidance 1 and 7.5;
- ``edits``: pie-tiny, inversion x editor on pocket scenes with their true edited images, and PIE-Bench's
  published numbers;
- ``course``: every notebook's run time under nbval;
- ``sd15``: seconds per step and peak memory of an SD-1.5-shaped pipeline (random weights);
- ``common``: the table format and the held-out images. The timer is ``ddim_course.timing``.

Speed is compared as ratios measured in the same run (machines are noisy); quality as PSNR.
"""

from .cost import bench_inversion_cost
from .course import bench_course
from .edits import bench_edits
from .inversions import bench_inversions
from .overhead import bench_overhead
from .sd15 import bench_sd15
from .widgets import bench_widgets

__all__ = [
    "bench_course",
    "bench_edits",
    "bench_inversion_cost",
    "bench_inversions",
    "bench_overhead",
    "bench_sd15",
    "bench_widgets",
]
