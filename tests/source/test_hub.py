"""Hub repo ids: nothing here reaches the network (there is none on these machines)."""

import shutil

import httpx2
import pytest
from huggingface_hub import errors

import webslm.source.hub as hub
from webslm.errors import WebslmError
from webslm.source import SafetensorsSource, open_source

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def http_error(cls, status):
    request = httpx2.Request("GET", "https://huggingface.co/api/models/org/model")
    return cls(f"{status} Client Error", response=httpx2.Response(status, request=request))


def test_offline_without_cache_explains_the_local_options(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(WebslmError, match="HF_HUB_OFFLINE is set") as err:
        open_source("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert "--source DIR" in err.value.fix and "FILE.gguf" in err.value.fix
    assert "HF_HUB_OFFLINE" in err.value.fix


def test_unreachable_hub(monkeypatch):
    def refuse(*args, **kwargs):
        raise errors.LocalEntryNotFoundError("Got: ConnectError: [Errno -2] Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.snapshot_download", refuse)
    with pytest.raises(WebslmError, match="unreachable.*ConnectError") as err:
        open_source("org/model")
    assert "--source" in err.value.fix


@pytest.mark.parametrize("status", [401, 403])
def test_gated_repo_explains_token_and_licence(monkeypatch, status):
    def gated(*args, **kwargs):
        raise http_error(errors.GatedRepoError, status)

    monkeypatch.setattr("huggingface_hub.snapshot_download", gated)
    with pytest.raises(WebslmError, match="gated") as err:
        open_source("meta-llama/Llama-3.2-1B-Instruct")
    fix = err.value.fix
    assert "HF_TOKEN" in fix and "huggingface-cli login" in fix and "licence" in fix
    assert "https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct" in fix


def test_unauthorized_and_missing_repos(monkeypatch):
    raised = {}
    def fail(*args, **kwargs):
        raise raised["e"]

    monkeypatch.setattr("huggingface_hub.snapshot_download", fail)
    raised["e"] = http_error(errors.RepositoryNotFoundError, 401)
    with pytest.raises(WebslmError, match="HTTP 401") as err:
        open_source("org/private")
    assert "HF_TOKEN" in err.value.fix
    raised["e"] = http_error(errors.RepositoryNotFoundError, 404)
    with pytest.raises(WebslmError, match="no model org/typo"):
        open_source("org/typo")


def test_snapshot_is_read_as_a_local_folder(make_hf_dir, monkeypatch):
    snapshot = make_hf_dir(COMMIT)
    calls = []

    def fake_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(snapshot)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_download)
    source = open_source("org/tiny-llama", revision="v1.0")
    assert isinstance(source, SafetensorsSource)
    assert (source.id, source.revision) == ("org/tiny-llama", COMMIT)
    assert source.config["hidden_size"] == 32 and len(source.tensor_names()) > 0
    (repo_id, kwargs), = calls
    assert repo_id == "org/tiny-llama" and kwargs["revision"] == "v1.0"
    assert kwargs["local_files_only"] is False
    patterns = kwargs["allow_patterns"]
    for wanted in ("config.json", "generation_config.json", "tokenizer*", "*.safetensors",
                   "model.safetensors.index.json", "special_tokens_map.json"):
        assert wanted in patterns
    assert not any(p.endswith((".bin", ".gguf", ".pth")) or p == "*" for p in patterns)


def test_offline_flag_is_read_at_call_time(make_hf_dir, monkeypatch):
    snapshot = make_hf_dir(COMMIT)
    seen = {}

    def fake_download(repo_id, **kwargs):
        seen.update(kwargs)
        return str(snapshot)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    open_source("org/tiny-llama")
    assert seen["local_files_only"] is True


def test_hub_snapshot_without_safetensors(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda *a, **k: str(tmp_path))
    with pytest.raises(WebslmError, match="no model.safetensors"):
        hub.open_hub("org/bin-only")


def _hf_cache_with(snapshot_src, cache, repo_id, commit):
    """Lay a model folder out the way huggingface_hub caches it: refs/main -> snapshots/<commit>."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(snapshot_src, repo_dir / "snapshots" / commit)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)


def test_offline_hub_path_reads_the_real_hf_cache(make_hf_dir, tmp_path, monkeypatch):
    """No mocks: huggingface_hub itself resolves the pinned commit from a cache on disk."""
    cache = tmp_path / "hf" / "hub"
    _hf_cache_with(make_hf_dir(), cache, "org/tiny-llama", COMMIT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))

    pinned = open_source("org/tiny-llama", revision=COMMIT)
    default_branch = open_source("org/tiny-llama")
    assert pinned.revision == default_branch.revision == COMMIT
    assert pinned.config["hidden_size"] == 32
    with pytest.raises(WebslmError, match="HF_HUB_OFFLINE is set"):
        open_source("org/tiny-llama", revision="f" * 40)  # a commit that is not cached
