"""Serving built models to the browser: `webslm serve` (FastAPI) and `webslm export-site`.

Inference never runs here; this package reads artifacts only and never imports the compiler.
"""
