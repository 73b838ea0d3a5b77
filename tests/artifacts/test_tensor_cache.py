"""tensor-cache.json + params_shard_*.bin: readable by TVM's own loader, sharded like tvmjs."""

import hashlib
import json

import numpy as np
import pytest

from webslm.artifacts.tensor_cache import TensorCacheWriter
from webslm.errors import WebslmError

MIB = 1 << 20


def tvm_load(out_dir):
    import tvm
    from tvm.contrib import tvmjs

    arrays, metadata = tvmjs.load_tensor_cache(str(out_dir), tvm.cpu())
    return {k: v.numpy() for k, v in arrays.items()}, metadata


def sample_tensors():
    rng = np.random.default_rng(0)
    return [
        ("model.embed_tokens.q_weight", rng.integers(0, 2**32, (64, 16), dtype=np.uint32)),
        ("model.embed_tokens.q_scale", rng.standard_normal((64, 4)).astype(np.float16)),
        ("model.layers.0.input_layernorm.weight", rng.standard_normal(128).astype(np.float32)),
        ("model.layers.0.mlp.down_proj.weight", rng.standard_normal((3, 5)).astype(np.float32).T),
        ("model.norm.weight", np.arange(7, dtype=np.float16)),  # odd byte count before an f32
        ("lm_head.weight", np.ones((2, 3), dtype=np.float32)),
    ]


def test_round_trip_through_tvm_loader(tmp_path):
    tensors = sample_tensors()
    writer = TensorCacheWriter(tmp_path)
    for name, array in tensors:
        writer.add(name, array)
    cache = writer.finish(param_count=1000)

    loaded, metadata = tvm_load(tmp_path)
    assert list(loaded) == [name for name, _ in tensors]
    for name, array in tensors:
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
    total = sum(a.nbytes for _, a in tensors)
    assert metadata == {"ParamSize": 6, "ParamBytes": total, "BitsPerParam": total * 8 / 1000}
    assert json.loads((tmp_path / "tensor-cache.json").read_text()) == cache


def test_json_keys_match_tvmjs_dump(tmp_path):
    """Same keys, in the same order, as tvm.contrib.tvmjs.dump_tensor_cache writes."""
    from tvm.contrib import tvmjs

    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    ref_dir, our_dir = tmp_path / "tvm", tmp_path / "ours"
    tvmjs.dump_tensor_cache({"w": array}, str(ref_dir), encode_format="raw", show_progress=False)
    writer = TensorCacheWriter(our_dir)
    writer.add("w", array)
    writer.finish()
    ref = json.loads((ref_dir / "tensor-cache.json").read_text())
    ours = json.loads((our_dir / "tensor-cache.json").read_text())
    assert list(ours) == list(ref)
    assert list(ours["records"][0]) == list(ref["records"][0])
    assert ours["records"][0]["records"] == ref["records"][0]["records"]
    assert ours["records"][0]["md5sum"] == ref["records"][0]["md5sum"]
    assert set(ours["metadata"]) == {"ParamSize", "ParamBytes", "BitsPerParam"}
    assert (our_dir / "params_shard_0.bin").read_bytes() == (ref_dir / "params_shard_0.bin").read_bytes()


def test_md5_per_shard(tmp_path):
    writer = TensorCacheWriter(tmp_path, shard_cap_bytes=1000)
    for i in range(5):
        writer.add(f"t{i}", np.full(100, i, dtype=np.float32))  # 400 bytes each
    cache = writer.finish()
    assert len(cache["records"]) == 3
    for shard in cache["records"]:
        data = (tmp_path / shard["dataPath"]).read_bytes()
        assert shard["nbytes"] == len(data)
        assert shard["md5sum"] == hashlib.md5(data).hexdigest()


def test_shard_rules_with_the_real_32_mib_cap(tmp_path):
    sizes_mib = [10, 10, 20, 5, 40, 8, 8, 8, 8]
    writer = TensorCacheWriter(tmp_path)
    for i, size in enumerate(sizes_mib):
        writer.add(f"t{i}", np.full(size * MIB // 4, i, dtype=np.float32))
    cache = writer.finish()
    layout = [[r["name"] for r in shard["records"]] for shard in cache["records"]]
    # t2 (20 MiB) would overflow [t0, t1] and is >= 16 MiB: own shard; t4 (40 MiB) likewise.
    # Four 8 MiB tensors reach exactly 32 MiB, which tvmjs counts as full: the last starts anew.
    assert layout == [["t0", "t1"], ["t2"], ["t3"], ["t4"], ["t5", "t6", "t7"], ["t8"]]
    assert [s["dataPath"] for s in cache["records"]] == [f"params_shard_{i}.bin" for i in range(6)]
    for shard in cache["records"]:
        assert shard["nbytes"] <= 32 * MIB or len(shard["records"]) == 1
        offsets = [r["byteOffset"] for r in shard["records"]]
        assert offsets == [sum(r["nbytes"] for r in shard["records"][:i]) for i in range(len(offsets))]
    loaded, _ = tvm_load(tmp_path)
    assert list(loaded) == [f"t{i}" for i in range(len(sizes_mib))]
    assert all((loaded[f"t{i}"] == i).all() for i in range(len(sizes_mib)))


def test_small_tensor_that_overflows_starts_a_new_shard(tmp_path):
    writer = TensorCacheWriter(tmp_path, shard_cap_bytes=1024)
    writer.add("a", np.zeros(200, np.float32))  # 800 bytes
    writer.add("b", np.zeros(100, np.float32))  # 400 < 512: not "big", so a new shard
    writer.add("c", np.zeros(10, np.float32))
    cache = writer.finish()
    assert [[r["name"] for r in s["records"]] for s in cache["records"]] == [["a"], ["b", "c"]]


def test_writer_refuses_duplicates_odd_dtypes_and_late_adds(tmp_path):
    writer = TensorCacheWriter(tmp_path)
    writer.add("a", np.zeros(4, np.float32))
    with pytest.raises(WebslmError, match="twice"):
        writer.add("a", np.zeros(4, np.float32))
    with pytest.raises(WebslmError, match="float64"):
        writer.add("b", np.zeros(4, np.float64))
    writer.finish()
    with pytest.raises(WebslmError, match="after finish"):
        writer.add("c", np.zeros(4, np.float32))


def test_stale_shards_of_an_earlier_run_are_removed(tmp_path):
    (tmp_path / "params_shard_7.bin").write_bytes(b"old")
    (tmp_path / "other.txt").write_text("keep")
    writer = TensorCacheWriter(tmp_path)
    writer.add("a", np.zeros(4, np.float16))
    writer.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other.txt",
        "params_shard_0.bin",
        "tensor-cache.json",
    ]


def test_no_json_when_writing_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with TensorCacheWriter(tmp_path) as writer:
            writer.add("a", np.zeros(4, np.float32))
            raise RuntimeError("conversion failed")
    assert not (tmp_path / "tensor-cache.json").exists()
