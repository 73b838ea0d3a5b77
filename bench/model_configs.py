"""config.json and generation_config.json of the published models, exactly as released.

Each lives in its architecture's folder (webslm/arch/<name>/checkpoints.py);
benchmarks build random-weight checkpoints with these configs (no hub access here).
"""

from webslm.arch import architectures

PUBLISHED = {name: p for arch in architectures() for name, p in arch.published.items()}
CONFIGS = {name: p.config for name, p in PUBLISHED.items()}
GENERATION_CONFIGS = {name: p.generation_config for name, p in PUBLISHED.items()}
