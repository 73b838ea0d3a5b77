// webslm: the apache-tvm wheel's runtime headers include this file but the wheel lacks it.
// Written for webslm: the Serializer<T> encodings the web runtime reads and writes. The wire
// format must match what the TVM compiler writes into model libraries (executables, WebGPU
// shader tables): little-endian scalars, enums as their underlying type, and containers as a
// uint64 element count followed by the elements (maps as key/value pairs).
#ifndef TVM_SUPPORT_SERIALIZER_H_
#define TVM_SUPPORT_SERIALIZER_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/endian.h>
#include <tvm/ffi/string.h>
#include <tvm/support/io.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tvm {
namespace support {

template <typename T>
struct Serializer<T, std::enable_if_t<std::is_arithmetic_v<T>>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const T& value) {
    T copy = value;
    if constexpr (!TVM_FFI_IO_NO_ENDIAN_SWAP) ffi::ByteSwap(&copy, sizeof(T), 1);
    strm->Write(static_cast<const void*>(&copy), sizeof(T));
  }
  static bool Read(Stream* strm, T* out) {
    if (strm->Read(static_cast<void*>(out), sizeof(T)) != sizeof(T)) return false;
    if constexpr (!TVM_FFI_IO_NO_ENDIAN_SWAP) ffi::ByteSwap(out, sizeof(T), 1);
    return true;
  }
};

template <typename T>
struct Serializer<T, std::enable_if_t<std::is_enum_v<T>>> {
  static constexpr bool enabled = true;
  using U = std::underlying_type_t<T>;
  static void Write(Stream* strm, const T& value) {
    Serializer<U>::Write(strm, static_cast<U>(value));
  }
  static bool Read(Stream* strm, T* out) {
    U raw;
    if (!Serializer<U>::Read(strm, &raw)) return false;
    *out = static_cast<T>(raw);
    return true;
  }
};

/*! \brief Length-prefixed raw bytes: the encoding shared by std::string and ffi::String. */
inline void WriteByteString(Stream* strm, const char* data, size_t size) {
  Serializer<uint64_t>::Write(strm, static_cast<uint64_t>(size));
  if (size != 0) strm->Write(static_cast<const void*>(data), size);
}

inline bool ReadByteString(Stream* strm, std::string* out) {
  uint64_t size;
  if (!Serializer<uint64_t>::Read(strm, &size)) return false;
  out->resize(static_cast<size_t>(size));
  if (size == 0) return true;
  return strm->Read(static_cast<void*>(&(*out)[0]), out->size()) == out->size();
}

template <>
struct Serializer<std::string> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const std::string& s) { WriteByteString(strm, s.data(), s.size()); }
  static bool Read(Stream* strm, std::string* out) { return ReadByteString(strm, out); }
};

template <>
struct Serializer<ffi::String> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::String& s) { WriteByteString(strm, s.data(), s.size()); }
  static bool Read(Stream* strm, ffi::String* out) {
    std::string s;
    if (!ReadByteString(strm, &s)) return false;
    *out = ffi::String(std::move(s));
    return true;
  }
};

template <typename T>
struct Serializer<std::vector<T>> {
  static constexpr bool enabled = true;
  // Scalars on a little-endian host are copied in one block (same bytes as one by one).
  static constexpr bool kBlockCopy =
      std::is_arithmetic_v<T> && !std::is_same_v<T, bool> && TVM_FFI_IO_NO_ENDIAN_SWAP;
  static void Write(Stream* strm, const std::vector<T>& items) {
    Serializer<uint64_t>::Write(strm, static_cast<uint64_t>(items.size()));
    if constexpr (kBlockCopy) {
      size_t nbytes = sizeof(T) * items.size();
      if (nbytes != 0) strm->Write(static_cast<const void*>(items.data()), nbytes);
    } else {
      for (const T& item : items) Serializer<T>::Write(strm, item);
    }
  }
  static bool Read(Stream* strm, std::vector<T>* out) {
    uint64_t size;
    if (!Serializer<uint64_t>::Read(strm, &size)) return false;
    out->resize(static_cast<size_t>(size));
    if constexpr (kBlockCopy) {
      size_t nbytes = sizeof(T) * out->size();
      return nbytes == 0 || strm->Read(static_cast<void*>(out->data()), nbytes) == nbytes;
    } else {
      for (T& item : *out) {
        if (!Serializer<T>::Read(strm, &item)) return false;
      }
      return true;
    }
  }
};

template <typename A, typename B>
struct Serializer<std::pair<A, B>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const std::pair<A, B>& p) {
    Serializer<A>::Write(strm, p.first);
    Serializer<B>::Write(strm, p.second);
  }
  static bool Read(Stream* strm, std::pair<A, B>* out) {
    return Serializer<A>::Read(strm, &out->first) && Serializer<B>::Read(strm, &out->second);
  }
};

template <typename K, typename V>
struct Serializer<std::unordered_map<K, V>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const std::unordered_map<K, V>& map) {
    Serializer<uint64_t>::Write(strm, static_cast<uint64_t>(map.size()));
    for (const auto& kv : map) {
      Serializer<K>::Write(strm, kv.first);
      Serializer<V>::Write(strm, kv.second);
    }
  }
  static bool Read(Stream* strm, std::unordered_map<K, V>* out) {
    uint64_t size;
    if (!Serializer<uint64_t>::Read(strm, &size)) return false;
    out->clear();
    for (uint64_t i = 0; i < size; ++i) {
      K key;
      V value;
      if (!Serializer<K>::Read(strm, &key) || !Serializer<V>::Read(strm, &value)) return false;
      (*out)[std::move(key)] = std::move(value);
    }
    return true;
  }
};

template <typename T>
struct Serializer<ffi::Array<T>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::Array<T>& items) {
    Serializer<uint64_t>::Write(strm, static_cast<uint64_t>(items.size()));
    for (size_t i = 0; i < items.size(); ++i) Serializer<T>::Write(strm, items[i]);
  }
  static bool Read(Stream* strm, ffi::Array<T>* out) {
    uint64_t size;
    if (!Serializer<uint64_t>::Read(strm, &size)) return false;
    ffi::Array<T> items;
    for (uint64_t i = 0; i < size; ++i) {
      T item;
      if (!Serializer<T>::Read(strm, &item)) return false;
      items.push_back(std::move(item));
    }
    *out = std::move(items);
    return true;
  }
};

template <typename K, typename V>
struct Serializer<ffi::Map<K, V>> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const ffi::Map<K, V>& map) {
    Serializer<uint64_t>::Write(strm, static_cast<uint64_t>(map.size()));
    for (const auto& kv : map) {
      Serializer<K>::Write(strm, kv.first);
      Serializer<V>::Write(strm, kv.second);
    }
  }
  static bool Read(Stream* strm, ffi::Map<K, V>* out) {
    uint64_t size;
    if (!Serializer<uint64_t>::Read(strm, &size)) return false;
    ffi::Map<K, V> map;
    for (uint64_t i = 0; i < size; ++i) {
      K key;
      V value;
      if (!Serializer<K>::Read(strm, &key) || !Serializer<V>::Read(strm, &value)) return false;
      map.Set(std::move(key), std::move(value));
    }
    *out = std::move(map);
    return true;
  }
};

/*! \brief DLDataType as code (u8), bits (u8), lanes (u16). */
template <>
struct Serializer<DLDataType> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const DLDataType& t) {
    Serializer<uint8_t>::Write(strm, t.code);
    Serializer<uint8_t>::Write(strm, t.bits);
    Serializer<uint16_t>::Write(strm, t.lanes);
  }
  static bool Read(Stream* strm, DLDataType* out) {
    return Serializer<uint8_t>::Read(strm, &out->code) &&
           Serializer<uint8_t>::Read(strm, &out->bits) &&
           Serializer<uint16_t>::Read(strm, &out->lanes);
  }
};

/*! \brief DLDevice as device_type (i32), device_id (i32). */
template <>
struct Serializer<DLDevice> {
  static constexpr bool enabled = true;
  static void Write(Stream* strm, const DLDevice& d) {
    Serializer<int32_t>::Write(strm, static_cast<int32_t>(d.device_type));
    Serializer<int32_t>::Write(strm, static_cast<int32_t>(d.device_id));
  }
  static bool Read(Stream* strm, DLDevice* out) {
    int32_t type, id;
    if (!Serializer<int32_t>::Read(strm, &type) || !Serializer<int32_t>::Read(strm, &id)) {
      return false;
    }
    out->device_type = static_cast<DLDeviceType>(type);
    out->device_id = id;
    return true;
  }
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_SERIALIZER_H_
