/*!
 * webslm's windowed KV cache: one KV state over two of TVM's paged caches, so that the
 * sliding-window layers of a model (Gemma 3's) keep only their window while its global
 * layers keep the whole context.
 *
 * WebLLM drives one KV state. TVM's paged cache keeps one page table for all its layers, so a
 * cache that mixes sliding and global layers stores the whole context in every layer. Here
 * the global layers live in `full_` and the sliding layers in `window_`, a cache whose every
 * layer slides and whose sequences drop the pages that fall out of `keep_` tokens
 * (EnableSlidingWindowForSeq; patches.py lets a per-layer sliding cache do that). Every
 * sequence call goes to both caches; an attention call goes to its layer's cache, under the
 * layer's index there.
 *
 * `keep_` is what a sequence keeps in `window_`: its window, and for a cache of several
 * sequences also a prefill chunk (webslm/compile/spec.py, keep_tokens, says why).
 */
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>

#include <string>
#include <utility>
#include <vector>

#include "src/runtime/vm/kv_state.h"

namespace webslm {

using tvm::runtime::Tensor;
using tvm::runtime::vm::AttentionKVCache;
using tvm::runtime::vm::AttentionKVCacheObj;
namespace ffi = tvm::ffi;

class WindowedKVCacheObj : public AttentionKVCacheObj {
 public:
  WindowedKVCacheObj(AttentionKVCache full, AttentionKVCache window, const ffi::Shape& sliding,
                     int32_t keep)
      : full_(std::move(full)), window_(std::move(window)), keep_(keep) {
    int64_t in_full = 0, in_window = 0;
    for (int64_t slides : sliding) {
      in_window_.push_back(slides != 0);
      local_.push_back(slides != 0 ? in_window++ : in_full++);
    }
  }

  // -- sequences: both caches ---------------------------------------------------------------
  void Clear() final {
    full_->Clear();
    window_->Clear();
  }
  void AddSequence(int64_t seq_id) final {
    full_->AddSequence(seq_id);
    window_->AddSequence(seq_id);
    window_->EnableSlidingWindowForSeq(seq_id, keep_, /*attn_sink_size=*/0);
  }
  void RemoveSequence(int64_t seq_id) final {
    full_->RemoveSequence(seq_id);
    window_->RemoveSequence(seq_id);
  }
  void ForkSequence(int64_t, int64_t, int64_t) final {
    Refuse("forking a sequence (prefix sharing)");
  }
  void PopN(int64_t seq_id, int32_t n) final {
    if (window_->GetSequenceLength(seq_id) != full_->GetSequenceLength(seq_id)) {
      Refuse("popping tokens after the sliding layers dropped the oldest ones");
    }
    full_->PopN(seq_id, n);
    window_->PopN(seq_id, n);
  }
  void BeginForward(const ffi::Shape& seq_ids, const ffi::Shape& append_lengths,
                    const ffi::Optional<ffi::Shape>& token_tree_parent_ptr) final {
    full_->BeginForward(seq_ids, append_lengths, token_tree_parent_ptr);
    window_->BeginForward(seq_ids, append_lengths, token_tree_parent_ptr);
  }
  void EndForward() final {
    full_->EndForward();
    window_->EndForward();
  }
  void CommitAcceptedTokenTreeNodes(const ffi::Shape& seq_ids,
                                    const ffi::Shape& leaf_indices) final {
    full_->CommitAcceptedTokenTreeNodes(seq_ids, leaf_indices);
    window_->CommitAcceptedTokenTreeNodes(seq_ids, leaf_indices);
  }

  // -- queries: the full cache knows every position -----------------------------------------
  bool Empty() const final { return full_->Empty() && window_->Empty(); }
  int32_t GetNumAvailablePages() const final { return full_->GetNumAvailablePages(); }
  int32_t GetTotalSequenceLength() const final { return full_->GetTotalSequenceLength(); }
  int32_t GetSequenceLength(int64_t seq_id) const final {
    return full_->GetSequenceLength(seq_id);
  }
  Tensor GetQueryPositions() final { return full_->GetQueryPositions(); }
  ffi::String GetLayoutHash() const final {
    return "windowed(" + std::string(full_->GetLayoutHash()) + "," +
           std::string(window_->GetLayoutHash()) + ")";
  }

  // -- attention: the layer's cache ---------------------------------------------------------
  void AttentionWithFusedQKV(int64_t layer_id, Tensor qkv_data, ffi::Optional<Tensor> mask,
                             Tensor o_data, double sm_scale) final {
    Of(layer_id)->AttentionWithFusedQKV(Local(layer_id), std::move(qkv_data), std::move(mask),
                                        std::move(o_data), sm_scale);
  }
  void SelfAttention(int64_t layer_id, Tensor q_data, Tensor k_data, Tensor v_data,
                     Tensor o_data, Tensor lse_data, double sm_scale) final {
    Of(layer_id)->SelfAttention(Local(layer_id), std::move(q_data), std::move(k_data),
                                std::move(v_data), std::move(o_data), std::move(lse_data),
                                sm_scale);
  }
  void CrossAttention(int64_t layer_id, Tensor q_data, Tensor o_data, Tensor lse_data,
                      double sm_scale) final {
    Of(layer_id)->CrossAttention(Local(layer_id), std::move(q_data), std::move(o_data),
                                 std::move(lse_data), sm_scale);
  }
  void AttentionWithSharedKV(int64_t source_layer_id, Tensor q_data, Tensor current_k_data,
                             Tensor current_v_data, Tensor o_data, double sm_scale) final {
    Of(source_layer_id)
        ->AttentionWithSharedKV(Local(source_layer_id), std::move(q_data),
                                std::move(current_k_data), std::move(current_v_data),
                                std::move(o_data), sm_scale);
  }
  void AppendMLAKV(int64_t layer_id, Tensor kv_data) final {
    Of(layer_id)->AppendMLAKV(Local(layer_id), std::move(kv_data));
  }
  void LinearAttention(int64_t layer_id, Tensor q_data, Tensor k_data, Tensor v_data,
                       double sm_scale) final {
    Of(layer_id)->LinearAttention(Local(layer_id), std::move(q_data), std::move(k_data),
                                  std::move(v_data), sm_scale);
  }
  ffi::Array<Tensor> MergeAttnOutputInplace(Tensor o_self_attn, Tensor lse_self_attn,
                                            Tensor o_cross_attn, Tensor lse_cross_attn) final {
    return full_->MergeAttnOutputInplace(std::move(o_self_attn), std::move(lse_self_attn),
                                         std::move(o_cross_attn), std::move(lse_cross_attn));
  }

  // -- what a windowed cache does not do ----------------------------------------------------
  void EnableSlidingWindowForSeq(int64_t, int32_t, int32_t) final {
    Refuse("a per-sequence sliding window (the sliding layers' window is the model's)");
  }
  ffi::String GetCheckpointMetadata(int64_t) const final { Refuse("KV checkpoints"); }
  void ExportPageGroup(int64_t, int64_t, Tensor) final { Refuse("KV checkpoints"); }
  void PrepareImport(int64_t, ffi::String) final { Refuse("KV checkpoints"); }
  void ImportPageGroup(int64_t, int64_t, Tensor) final { Refuse("KV checkpoints"); }
  void FinishImport(int64_t) final { Refuse("KV checkpoints"); }
  ffi::Shape DisaggPrepareRecv(int64_t, int) final { Refuse("disaggregated serving"); }
  void DisaggMarkSend(int64_t, int64_t, const ffi::Shape&, int32_t) final {
    Refuse("disaggregated serving");
  }
  void DebugGetKV(int64_t, int64_t, int64_t, Tensor, Tensor) final { Refuse("DebugGetKV"); }
  void DebugGetKVMLA(int64_t, int64_t, int64_t, Tensor) final { Refuse("DebugGetKVMLA"); }
  void DebugSetKV(int64_t, int64_t, Tensor, Tensor) final { Refuse("DebugSetKV"); }

  TVM_FFI_DECLARE_OBJECT_INFO_FINAL("webslm.WindowedKVCache", WindowedKVCacheObj,
                                    AttentionKVCacheObj);

 private:
  const AttentionKVCache& Of(int64_t layer_id) const {
    CheckLayer(layer_id);
    return in_window_[layer_id] ? window_ : full_;
  }
  int64_t Local(int64_t layer_id) const {
    CheckLayer(layer_id);
    return local_[layer_id];
  }
  void CheckLayer(int64_t layer_id) const {
    if (layer_id < 0 || layer_id >= static_cast<int64_t>(local_.size())) {
      TVM_FFI_THROW(IndexError) << "webslm's windowed KV cache has " << local_.size()
                                << " layers; layer " << layer_id << " was asked for";
    }
  }
  [[noreturn]] static void Refuse(const char* what) {
    TVM_FFI_THROW(RuntimeError) << "webslm's windowed KV cache (a model whose sliding layers "
                                   "keep only their window) does not support "
                                << what;
  }

  AttentionKVCache full_;
  AttentionKVCache window_;
  int32_t keep_;
  std::vector<bool> in_window_;
  std::vector<int64_t> local_;
};

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef().def(
      "webslm.windowed_kv_cache_create",
      [](AttentionKVCache full, AttentionKVCache window, ffi::Shape sliding, ffi::Shape keep) {
        TVM_FFI_ICHECK_EQ(keep.size(), 1);
        return AttentionKVCache(
            ffi::make_object<WindowedKVCacheObj>(std::move(full), std::move(window), sliding,
                                                 static_cast<int32_t>(keep[0])));
      });
}

}  // namespace webslm
