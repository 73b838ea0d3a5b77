// webslm: src/runtime/tensor.cc (compiled into the web runtime) includes this header, which the
// apache-tvm wheel lacks. Written for webslm: standard base64 (RFC 4648, '=' padding) as
// Streams, used to turn tensors into JSON text and back.
#ifndef TVM_SUPPORT_BASE64_H_
#define TVM_SUPPORT_BASE64_H_

#include <tvm/ffi/error.h>
#include <tvm/support/io.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>

namespace tvm {
namespace support {

/*! \brief Decodes base64 text read from another stream; stops at whitespace, EOF or padding. */
class Base64InStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  explicit Base64InStream(Stream* src) : src_(src) {}

  /*! \brief Skip leading whitespace; call before the first Read. */
  void InitPosition() {
    started_ = true;
    do {
      peek_ = NextChar();
    } while (peek_ != EOF && std::isspace(peek_));
  }

  size_t Read(void* ptr, size_t size) override {
    if (!started_) InitPosition();
    unsigned char* out = static_cast<unsigned char*>(ptr);
    size_t n = 0;
    while (n < size) {
      if (pos_ == len_ && !DecodeQuartet()) break;
      out[n++] = decoded_[pos_++];
    }
    return n;
  }

  size_t Write(const void*, size_t) override {
    TVM_FFI_THROW(InternalError) << "Base64InStream is read-only";
    return 0;
  }

 private:
  static uint32_t DecodeChar(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    TVM_FFI_THROW(ValueError) << "invalid base64 character " << c;
    return 0;
  }

  int NextChar() {
    if (buf_pos_ == buf_len_) {
      buf_len_ = src_->Read(buf_, sizeof(buf_));
      buf_pos_ = 0;
      if (buf_len_ == 0) return EOF;
    }
    return static_cast<unsigned char>(buf_[buf_pos_++]);
  }

  // Decode the next four characters into decoded_; false at the end of the base64 text.
  bool DecodeQuartet() {
    if (ended_ || peek_ == EOF || std::isspace(peek_)) return false;
    int chars[4] = {peek_, NextChar(), NextChar(), NextChar()};
    peek_ = NextChar();
    uint32_t value = 0;
    int padding = 0;
    for (int c : chars) {
      TVM_FFI_ICHECK(c != EOF && !std::isspace(c)) << "truncated base64 text";
      if (c == '=') {
        ++padding;
        value <<= 6;
      } else {
        TVM_FFI_ICHECK_EQ(padding, 0) << "base64 character after padding";
        value = (value << 6) | DecodeChar(c);
      }
    }
    TVM_FFI_ICHECK_LE(padding, 2) << "invalid base64 padding";
    decoded_[0] = static_cast<unsigned char>(value >> 16);
    decoded_[1] = static_cast<unsigned char>(value >> 8);
    decoded_[2] = static_cast<unsigned char>(value);
    len_ = 3 - padding;
    pos_ = 0;
    ended_ = padding != 0;
    return true;
  }

  Stream* src_;
  char buf_[256];
  size_t buf_len_{0}, buf_pos_{0};
  int peek_{EOF};
  bool started_{false}, ended_{false};
  unsigned char decoded_[3];
  int len_{0}, pos_{0};
};

/*! \brief Encodes bytes as base64 text into another stream; call Finish() at the end. */
class Base64OutStream : public Stream {
 public:
  using Stream::Read;
  using Stream::Write;

  explicit Base64OutStream(Stream* dst) : dst_(dst) {}

  size_t Write(const void* ptr, size_t size) override {
    const unsigned char* in = static_cast<const unsigned char*>(ptr);
    for (size_t i = 0; i < size; ++i) {
      pending_[npending_++] = in[i];
      if (npending_ == 3) EmitPending();
    }
    return size;
  }

  size_t Read(void*, size_t) override {
    TVM_FFI_THROW(InternalError) << "Base64OutStream is write-only";
    return 0;
  }

  /*! \brief Write the padded last group, then endch unless it is EOF, and flush. */
  void Finish(int endch = EOF) {
    if (npending_ != 0) EmitPending();
    if (endch != EOF) text_.push_back(static_cast<char>(endch));
    Flush();
  }

 private:
  void EmitPending() {
    static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t value = pending_[0] << 16;
    if (npending_ > 1) value |= pending_[1] << 8;
    if (npending_ > 2) value |= pending_[2];
    for (int i = 0; i < 4; ++i) {
      text_.push_back(i <= npending_ ? kTable[(value >> (18 - 6 * i)) & 63] : '=');
    }
    npending_ = 0;
    if (text_.size() >= 256) Flush();
  }

  void Flush() {
    if (!text_.empty()) dst_->Write(static_cast<const void*>(text_.data()), text_.size());
    text_.clear();
  }

  Stream* dst_;
  unsigned char pending_[3];
  int npending_{0};
  std::string text_;
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_BASE64_H_
