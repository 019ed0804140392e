// A stand-in for asmjit's header, which the torch wheel does not ship although fbgemm's
// SimdUtils.h includes it: that header only names asmjit's x86 register types, and
// pack_int8_rows.cpp uses none of them. Never linked against asmjit itself.
#pragma once
#define ASMJIT_LIBRARY_MAKE_VERSION(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define ASMJIT_LIBRARY_VERSION 0
#define ASMJIT_INLINE_NODEBUG inline
namespace asmjit {
namespace x86 {
struct Xmm {};
struct Ymm {};
struct Zmm {};
}  // namespace x86
}  // namespace asmjit
