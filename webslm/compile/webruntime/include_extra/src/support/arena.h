// webslm: src/runtime/rpc (compiled into the web runtime) includes this header, which the
// apache-tvm wheel lacks. Written for webslm: a bump allocator for per-message scratch memory
// that is released all at once with RecycleAll().
#ifndef TVM_SUPPORT_ARENA_H_
#define TVM_SUPPORT_ARENA_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tvm {
namespace support {

/*! \brief Hands out uninitialized memory from large chunks; chunks are reused after RecycleAll. */
class Arena {
 public:
  static constexpr size_t kChunkSize = 16 << 10;

  /*! \brief Uninitialized space for count objects of trivial type T. */
  template <typename T>
  T* allocate_(int count = 1) {
    return static_cast<T*>(Alloc(sizeof(T) * static_cast<size_t>(count), alignof(T)));
  }

  /*! \brief Forget every allocation; the chunks are kept for the next ones. */
  void RecycleAll() {
    current_ = 0;
    offset_ = 0;
  }

 private:
  struct Chunk {
    std::unique_ptr<char[]> data;
    size_t size;
  };

  void* Alloc(size_t size, size_t align) {
    while (true) {
      if (current_ == chunks_.size()) {
        size_t n = std::max(kChunkSize, size + align);
        chunks_.push_back(Chunk{std::unique_ptr<char[]>(new char[n]), n});
      }
      Chunk& chunk = chunks_[current_];
      uintptr_t base = reinterpret_cast<uintptr_t>(chunk.data.get());
      size_t start = ((base + offset_ + align - 1) / align) * align - base;
      if (start + size <= chunk.size) {
        offset_ = start + size;
        return chunk.data.get() + start;
      }
      ++current_;  // this chunk is full: move on to the next (or a new) one
      offset_ = 0;
    }
  }

  std::vector<Chunk> chunks_;
  size_t current_{0};  // chunk that allocations come from
  size_t offset_{0};   // first free byte in that chunk
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_ARENA_H_
