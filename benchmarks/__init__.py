"""Benchmarks of vidcolor: one module per benchmark, run by ``vidcolor bench`` (see RESULTS.md).

Each module has ``run(workdir, *, smoke=False) -> BenchResult`` and a ``main()`` so it also runs as
``python -m benchmarks.<name>`` from the repository root. ``train_throughput.py`` is a plain script
owned by the training code; ``benchmarks.train`` calls it in a subprocess.
"""
