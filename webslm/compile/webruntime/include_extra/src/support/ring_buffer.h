// webslm: src/runtime/rpc (compiled into the web runtime) includes this header, which the
// apache-tvm wheel lacks. Written for webslm: a growable FIFO byte ring used by the RPC endpoint.
#ifndef TVM_SUPPORT_RING_BUFFER_H_
#define TVM_SUPPORT_RING_BUFFER_H_

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace tvm {
namespace support {

/*! \brief FIFO of bytes in a circular buffer that grows when a write needs room. */
class RingBuffer {
 public:
  static constexpr size_t kInitCapacity = 4096;

  RingBuffer() : ring_(kInitCapacity) {}

  size_t bytes_available() const { return size_; }
  size_t capacity() const { return ring_.size(); }

  /*! \brief Make the capacity at least n bytes, keeping the stored bytes in order. */
  void Reserve(size_t n) {
    if (n <= ring_.size()) return;
    std::vector<char> grown(std::max(n, ring_.size() * 2));
    CopyOut(grown.data(), size_);
    ring_.swap(grown);
    head_ = 0;
  }

  /*! \brief Remove size bytes (size <= bytes_available()) into data. */
  void Read(void* data, size_t size) {
    TVM_FFI_ICHECK_LE(size, size_);
    CopyOut(static_cast<char*>(data), size);
    Consume(size);
  }

  /*! \brief Append size bytes, growing the buffer if needed. */
  void Write(const void* data, size_t size) {
    Reserve(size_ + size);
    const char* src = static_cast<const char*>(data);
    size_t tail = (head_ + size_) % ring_.size();
    size_t first = std::min(size, ring_.size() - tail);
    std::memcpy(ring_.data() + tail, src, first);
    std::memcpy(ring_.data(), src + first, size - first);
    size_ += size;
  }

  /*!
   * \brief Hand up to max_nbytes stored bytes to fsend(const void*, size_t) -> bytes taken,
   *  and drop the bytes it took. Returns how many it took.
   */
  template <typename FSend>
  size_t ReadWithCallback(FSend fsend, size_t max_nbytes) {
    size_t size = std::min(max_nbytes, size_);
    TVM_FFI_ICHECK_NE(size, 0U);
    size_t first = std::min(size, ring_.size() - head_);
    size_t sent = fsend(ring_.data() + head_, first);
    if (sent == first && first < size) sent += fsend(ring_.data(), size - first);
    Consume(sent);
    return sent;
  }

  /*!
   * \brief Let frecv(void*, size_t) -> bytes written fill up to max_nbytes of free space at
   *  the end. Returns how many bytes were added.
   */
  template <typename FRecv>
  size_t WriteWithCallback(FRecv frecv, size_t max_nbytes) {
    Reserve(size_ + max_nbytes);
    size_t tail = (head_ + size_) % ring_.size();
    size_t first = std::min(max_nbytes, ring_.size() - tail);
    size_t got = frecv(ring_.data() + tail, first);
    if (got == first && first < max_nbytes) got += frecv(ring_.data(), max_nbytes - first);
    size_ += got;
    return got;
  }

 private:
  // Copy the first n stored bytes (n <= size_) to out without consuming them.
  void CopyOut(char* out, size_t n) const {
    size_t first = std::min(n, ring_.size() - head_);
    std::memcpy(out, ring_.data() + head_, first);
    std::memcpy(out + first, ring_.data(), n - first);
  }
  void Consume(size_t n) {
    head_ = (head_ + n) % ring_.size();
    size_ -= n;
    if (size_ == 0) head_ = 0;
  }

  std::vector<char> ring_;
  size_t head_{0};  // index of the oldest stored byte
  size_t size_{0};  // number of stored bytes
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_RING_BUFFER_H_
