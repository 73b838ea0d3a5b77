"""One cache root, one environment variable (WEBSLM_CACHE), used by every cache."""

from webslm.source import cache as source_cache
from webslm.compile.webruntime import runtime
from webslm.user_cache import cache_root


def test_cache_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "a"
    monkeypatch.delenv("WEBSLM_CACHE")
    assert cache_root() == tmp_path / "x" / "webslm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "webslm"


def test_source_and_runtime_caches_share_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("WEBSLM_CACHE_DIR", str(tmp_path / "old"))  # no longer read
    made = source_cache.staged_dir("kind", "key", lambda d: (d / "f").write_text("x"))
    assert made == tmp_path / "c" / "kind" / "key"
    assert runtime.cache_root is source_cache.cache_root is cache_root
