// webslm: src/runtime sources compiled into the web runtime include this header, which the
// apache-tvm wheel lacks. Written for webslm with only the string helper those sources use.
#ifndef TVM_SUPPORT_UTILS_H_
#define TVM_SUPPORT_UTILS_H_

#include <tvm/ffi/string.h>

#include <cstring>

namespace tvm {
namespace support {

/*! \brief Whether str begins with the NUL-terminated prefix. */
inline bool StartsWith(const ffi::String& str, const char* prefix) {
  size_t n = std::strlen(prefix);
  return str.size() >= n && std::memcmp(str.data(), prefix, n) == 0;
}

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_UTILS_H_
