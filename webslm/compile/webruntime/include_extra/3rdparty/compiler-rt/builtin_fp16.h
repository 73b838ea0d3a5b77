// webslm: src/runtime/extra/contrib/sort/sort.cc (compiled into the web runtime) includes this
// header, which the apache-tvm wheel lacks. Written for webslm: it only needs widening of a
// narrow IEEE-754 float (e.g. half bits) to a wider one, named as in compiler-rt.
#ifndef WEBSLM_BUILTIN_FP16_H_
#define WEBSLM_BUILTIN_FP16_H_

#include <cstdint>
#include <cstring>

/*!
 * \brief Widen the IEEE-754 value whose bits are in a (SRC_SIG_BITS mantissa bits) to DST_T
 *  (DST_SIG_BITS mantissa bits). Exact: handles zeros, subnormals, infinities and NaNs.
 */
template <typename SRC_T, typename SRC_REP_T, int SRC_SIG_BITS, typename DST_T, typename DST_REP_T,
          int DST_SIG_BITS>
static inline DST_T __extendXfYf2__(SRC_T a) {
  constexpr int kSrcBits = sizeof(SRC_REP_T) * 8;
  constexpr int kSrcExpBits = kSrcBits - SRC_SIG_BITS - 1;
  constexpr int kSrcBias = (1 << (kSrcExpBits - 1)) - 1;
  constexpr uint64_t kSrcExpMax = (uint64_t(1) << kSrcExpBits) - 1;
  constexpr int kDstBits = sizeof(DST_REP_T) * 8;
  constexpr int kDstExpBits = kDstBits - DST_SIG_BITS - 1;
  constexpr int kDstBias = (1 << (kDstExpBits - 1)) - 1;
  constexpr uint64_t kDstExpMax = (uint64_t(1) << kDstExpBits) - 1;
  constexpr int kShift = DST_SIG_BITS - SRC_SIG_BITS;
  static_assert(sizeof(SRC_T) == sizeof(SRC_REP_T) && sizeof(DST_T) == sizeof(DST_REP_T));
  static_assert(kShift >= 0 && kDstExpBits >= kSrcExpBits && kDstBits <= 64);

  SRC_REP_T src;
  std::memcpy(&src, &a, sizeof(src));
  uint64_t bits = src;
  uint64_t sign = (bits >> (kSrcBits - 1)) & 1;
  uint64_t exp = (bits >> SRC_SIG_BITS) & kSrcExpMax;
  uint64_t sig = bits & ((uint64_t(1) << SRC_SIG_BITS) - 1);

  uint64_t out_exp = 0;
  if (exp == kSrcExpMax) {  // infinity or NaN (payload kept)
    out_exp = kDstExpMax;
  } else if (exp != 0) {  // normal
    out_exp = exp - kSrcBias + kDstBias;
  } else if (sig != 0) {  // subnormal: normalize, since the wider format has the range
    int e = 1 - kSrcBias;
    while (!(sig & (uint64_t(1) << SRC_SIG_BITS))) {
      sig <<= 1;
      --e;
    }
    sig &= (uint64_t(1) << SRC_SIG_BITS) - 1;
    out_exp = static_cast<uint64_t>(e + kDstBias);
  }
  uint64_t out = (sign << (kDstBits - 1)) | (out_exp << DST_SIG_BITS) | (sig << kShift);
  DST_REP_T rep = static_cast<DST_REP_T>(out);
  DST_T result;
  std::memcpy(&result, &rep, sizeof(result));
  return result;
}

#endif  // WEBSLM_BUILTIN_FP16_H_
