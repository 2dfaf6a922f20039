// goro/ctx_aarch64.hpp — context switch for AArch64 (AAPCS64, Linux). See ctx.hpp.
//
// What AAPCS64 makes callee-saved, and so what a swap saves: x19-x28, the frame
// pointer x29, the link register x30 (the swap returns through it), sp, and the
// low 64 bits of v8-v15 (d8-d15); plus FPCR (rounding mode, flush-to-zero,
// trap enables), because a goroutine may resume on another M whose FPCR differs.
// What it skips: x0-x18 and v0-v7/v16-v31 (caller-saved: the compiler spilled
// what it needs around the call), the upper halves of v8-v15 (caller-saved in
// AAPCS64), x18 (the platform register; Linux does not reserve it, and it is
// caller-saved there), FPSR (sticky status flags, per thread as in C++), and
// the SVE/SME state (SVE registers are caller-saved beyond d8-d15; goro does
// not support code that keeps streaming mode or ZA live across a goro call).
//
// Saved frame, from the saved stack pointer upwards (ctx_frame below):
//   +0   d8  d9  d10 d11 d12 d13 d14 d15
//   +64  x19 x20 x21 x22 x23 x24 x25 x26 x27 x28
//   +144 x29 (fp)  +152 x30 (lr: where the swap returns)
//   +160 FPCR  +168 padding (sp stays 16-byte aligned)
// FPCR is written only when it differs from the current one: an msr to FPCR
// can be slow (it may serialize the pipeline), like ldmxcsr on x86-64.
//
// A fresh context (ctx_make) has x30 = goro_detail_ctx_entry, x19 = arg and
// x20 = entry, so the first swap into it "returns" into the trampoline, which
// calls entry(arg). x29 = 0 and the trampoline's CFI (x30 undefined) end
// backtraces and unwinding there.
#ifndef GORO_DETAIL_CTX_AARCH64_HPP
#define GORO_DETAIL_CTX_AARCH64_HPP

#include "config.hpp"
#if defined(__aarch64__)

#include <cstddef>
#include <cstdint>

extern "C" void goro_detail_ctx_swap(void** save_sp, void* load_sp);
extern "C" void goro_detail_ctx_entry();

// clang-format off
asm(R"(
  .pushsection .text.goro_detail_ctx_swap,"axG",%progbits,goro_detail_ctx_swap,comdat
  .globl goro_detail_ctx_swap
  .type goro_detail_ctx_swap,%function
  .p2align 4
goro_detail_ctx_swap:
  .cfi_startproc
  sub sp, sp, #176
  .cfi_def_cfa_offset 176
  stp d8, d9, [sp, #0]
  stp d10, d11, [sp, #16]
  stp d12, d13, [sp, #32]
  stp d14, d15, [sp, #48]
  stp x19, x20, [sp, #64]
  stp x21, x22, [sp, #80]
  stp x23, x24, [sp, #96]
  stp x25, x26, [sp, #112]
  stp x27, x28, [sp, #128]
  stp x29, x30, [sp, #144]
  .cfi_offset x29, -32
  .cfi_offset x30, -24
  mrs x9, fpcr
  str x9, [sp, #160]
  mov x10, sp
  str x10, [x0]
  mov sp, x1
  ldr x10, [sp, #160]
  cmp x9, x10
  b.eq 1f
  msr fpcr, x10
1:
  ldp d8, d9, [sp, #0]
  ldp d10, d11, [sp, #16]
  ldp d12, d13, [sp, #32]
  ldp d14, d15, [sp, #48]
  ldp x19, x20, [sp, #64]
  ldp x21, x22, [sp, #80]
  ldp x23, x24, [sp, #96]
  ldp x25, x26, [sp, #112]
  ldp x27, x28, [sp, #128]
  ldp x29, x30, [sp, #144]
  add sp, sp, #176
  ret
  .cfi_endproc
  .size goro_detail_ctx_swap, .-goro_detail_ctx_swap
  .popsection

  .pushsection .text.goro_detail_ctx_entry,"axG",%progbits,goro_detail_ctx_entry,comdat
  .globl goro_detail_ctx_entry
  .type goro_detail_ctx_entry,%function
  .p2align 4
goro_detail_ctx_entry:
  .cfi_startproc
  .cfi_undefined x30
  mov x0, x19
  blr x20
  brk #0x3e8
  .cfi_endproc
  .size goro_detail_ctx_entry, .-goro_detail_ctx_entry
  .popsection
)");
// clang-format on

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

struct ctx_frame {
  std::uint64_t d8, d9, d10, d11, d12, d13, d14, d15;
  std::uint64_t x19, x20, x21, x22, x23, x24, x25, x26, x27, x28;
  std::uint64_t x29, x30;
  std::uint64_t fpcr, pad;
};
static_assert(sizeof(ctx_frame) == 176, "ctx_frame must match goro_detail_ctx_swap's frame");
static_assert(offsetof(ctx_frame, x19) == 64 && offsetof(ctx_frame, x29) == 144 && offsetof(ctx_frame, x30) == 152 &&
                  offsetof(ctx_frame, fpcr) == 160,
              "ctx_frame offsets must match goro_detail_ctx_swap");

// ctx_make: see ctx.hpp. The trampoline runs with sp = stack_top rounded down
// to 16 bytes (AAPCS64 requires sp 16-byte aligned at all times).
inline void* ctx_make(void* stack_top, void (*entry)(void*), void* arg) noexcept {
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
  auto* f = reinterpret_cast<ctx_frame*>(top - sizeof(ctx_frame));
  *f = ctx_frame{};
  f->x19 = reinterpret_cast<std::uint64_t>(arg);
  f->x20 = reinterpret_cast<std::uint64_t>(entry);
  f->x29 = 0;
  f->x30 = reinterpret_cast<std::uint64_t>(&goro_detail_ctx_entry);
  f->fpcr = 0;  // the AAPCS64/Linux initial FPCR: round to nearest, no flush-to-zero, no traps
  return f;
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // defined(__aarch64__)
#endif  // GORO_DETAIL_CTX_AARCH64_HPP
