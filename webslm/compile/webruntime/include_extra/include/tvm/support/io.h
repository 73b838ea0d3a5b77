// webslm: the apache-tvm wheel ships headers (tvm/runtime/tensor.h, vm/executable.h) that include
// this file but does not ship it. Written for webslm from what the web runtime sources use:
// a byte Stream whose typed Read/Write go through Serializer<T> (see serializer.h).
#ifndef TVM_SUPPORT_IO_H_
#define TVM_SUPPORT_IO_H_

#include <cstddef>
#include <cstdint>

namespace tvm {
namespace support {

/*! \brief Binary encoding of T; specializations set enabled = true and define Write/Read. */
template <typename T, typename = void>
struct Serializer {
  static constexpr bool enabled = false;
};

/*! \brief A byte stream. Subclasses override the raw Read/Write and add `using Stream::Read;`. */
class Stream {
 public:
  virtual ~Stream() = default;
  /*! \brief Read up to size bytes; returns how many were read. */
  virtual size_t Read(void* ptr, size_t size) = 0;
  /*! \brief Write size bytes; returns how many were written. */
  virtual size_t Write(const void* ptr, size_t size) = 0;

  template <typename T>
  void Write(const T& value) {
    static_assert(Serializer<T>::enabled, "no Serializer for this type");
    Serializer<T>::Write(this, value);
  }

  template <typename T>
  bool Read(T* out) {
    static_assert(Serializer<T>::enabled, "no Serializer for this type");
    return Serializer<T>::Read(this, out);
  }

  template <typename T>
  void WriteArray(const T* values, size_t count) {
    for (size_t i = 0; i < count; ++i) Write<T>(values[i]);
  }

  template <typename T>
  bool ReadArray(T* values, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (!Read<T>(values + i)) return false;
    }
    return true;
  }
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_IO_H_
