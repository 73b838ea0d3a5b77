"""Hugging Face hub repos: download only what compiling needs, then read it as a local folder.

The download goes through huggingface_hub's cache, so HF_HOME, HF_TOKEN and a cached snapshot
work as usual; HF_HUB_OFFLINE is read at call time (huggingface_hub reads it at import).
"""

import os
import re
from pathlib import Path

from webslm.errors import WebslmError
from webslm.source.safetensors_dir import SafetensorsSource, open_model_dir

ALLOW_PATTERNS = [
    "config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",  # transformers 5 keeps the chat template out of tokenizer_config.json
    "chat_template.json",
    "*.safetensors",
    "model.safetensors.index.json",
]
OFFLINE_FIX = (
    "use a local copy instead: --source DIR (a Hugging Face model folder) or --source FILE.gguf; "
    "with HF_HUB_OFFLINE=1 a model already in the HF cache ($HF_HOME/hub) is used without network"
)
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """Fetch (or reuse from cache) the compile-relevant files of repo_id at revision."""
    from huggingface_hub import errors, snapshot_download

    where = f"{repo_id}" + (f" at revision {revision}" if revision else "")
    try:
        path = snapshot_download(
            repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS, local_files_only=_offline()
        )
    except errors.GatedRepoError:
        raise WebslmError(
            f"{repo_id} is a gated model: the hub refused access",
            f"accept its licence on https://huggingface.co/{repo_id}, then authenticate with "
            "HF_TOKEN=<token> or `huggingface-cli login`",
        ) from None
    except errors.RepositoryNotFoundError as err:
        if _status(err) in (401, 403):
            raise WebslmError(
                f"the hub denied access to {repo_id} (HTTP {_status(err)})",
                "set HF_TOKEN or run `huggingface-cli login`; for gated models accept the licence first",
            ) from None
        raise WebslmError(
            f"no model {repo_id} on the Hugging Face hub (or it is private)",
            "check the repo id spelling; for a private repo set HF_TOKEN or run `huggingface-cli login`",
        ) from None
    except errors.RevisionNotFoundError:
        raise WebslmError(
            f"{repo_id} has no revision {revision!r}", "pass an existing branch, tag or commit"
        ) from None
    except errors.HFValidationError as err:
        raise WebslmError(
            f"{repo_id!r} is not a valid hub repo id ({err})", "use the form owner/name"
        ) from None
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as err:
        reason = "HF_HUB_OFFLINE is set and it is not in the local HF cache" if _offline() else (
            f"the Hugging Face hub is unreachable ({str(err).splitlines()[0]})"
        )
        raise WebslmError(f"cannot get {where}: {reason}", OFFLINE_FIX) from None
    except errors.HfHubHTTPError as err:
        if _status(err) in (401, 403):
            raise WebslmError(
                f"the hub denied access to {repo_id} (HTTP {_status(err)})",
                "set HF_TOKEN or run `huggingface-cli login`; for gated models accept the licence first",
            ) from None
        raise WebslmError(f"downloading {where} failed: {err}", OFFLINE_FIX) from None
    except OSError as err:  # connection dropped mid-download, disk full, ...
        raise WebslmError(f"downloading {where} failed: {err}", OFFLINE_FIX) from None
    return Path(path)


def open_hub(repo_id: str, revision: str | None = None) -> SafetensorsSource:
    path = download_snapshot(repo_id, revision)
    commit = path.name if COMMIT.match(path.name) else revision
    return open_model_dir(path, id=repo_id, revision=commit)


def _status(err: Exception) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)
