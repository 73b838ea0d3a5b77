// webslm: the wheel's src/runtime/vm sources include this header, which the wheel lacks.
// NVTX profiling ranges only exist on CUDA builds; for the web runtime they are no-ops.
#ifndef TVM_SUPPORT_CUDA_NVTX_H_
#define TVM_SUPPORT_CUDA_NVTX_H_

#include <string>

namespace tvm {
namespace support {

/*! \brief Scoped profiler range; does nothing outside CUDA builds. */
class NVTXScopedRange {
 public:
  explicit NVTXScopedRange(const char*) {}
  explicit NVTXScopedRange(const std::string&) {}
  NVTXScopedRange(const NVTXScopedRange&) = delete;
  NVTXScopedRange& operator=(const NVTXScopedRange&) = delete;
};

}  // namespace support
}  // namespace tvm

#define TVM_NVTX_FUNC_SCOPE()

#endif  // TVM_SUPPORT_CUDA_NVTX_H_
