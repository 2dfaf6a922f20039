// goro/ctx_x86_64.hpp — context switch for x86-64 System V. See ctx.hpp.
//
// Saved frame, from the saved stack pointer upwards (ctx_frame below):
//   +0  MXCSR (4 bytes)   +4 x87 control word (2 bytes)   +6 padding
//   +8  r15  +16 r14  +24 r13  +32 r12  +40 rbx  +48 rbp  +56 return address
// The FP control words are restored only when they differ from the current
// ones: ldmxcsr/fldcw on every switch cost ~3 ns here (docs/design.md,
// "Toolchain notes").
#ifndef GORO_DETAIL_CTX_X86_64_HPP
#define GORO_DETAIL_CTX_X86_64_HPP

#include "config.hpp"
#if defined(__x86_64__)

#include <cstddef>
#include <cstdint>

extern "C" void goro_detail_ctx_swap(void** save_sp, void* load_sp);
extern "C" void goro_detail_ctx_entry();

// clang-format off
asm(R"(
  .pushsection .text.goro_detail_ctx_swap,"axG",@progbits,goro_detail_ctx_swap,comdat
  .globl goro_detail_ctx_swap
  .type goro_detail_ctx_swap,@function
  .p2align 4
goro_detail_ctx_swap:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  stmxcsr -8(%rsp)
  movl -8(%rsp), %eax
  cmpl (%rsp), %eax
  je 1f
  ldmxcsr (%rsp)
1:
  fnstcw -8(%rsp)
  movzwl -8(%rsp), %eax
  cmpw 4(%rsp), %ax
  je 2f
  fldcw 4(%rsp)
2:
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size goro_detail_ctx_swap, .-goro_detail_ctx_swap
  .popsection

  .pushsection .text.goro_detail_ctx_entry,"axG",@progbits,goro_detail_ctx_entry,comdat
  .globl goro_detail_ctx_entry
  .type goro_detail_ctx_entry,@function
  .p2align 4
goro_detail_ctx_entry:
  .cfi_startproc
  .cfi_undefined rip
  movq %rbx, %rdi
  callq *%r12
  ud2
  .cfi_endproc
  .size goro_detail_ctx_entry, .-goro_detail_ctx_entry
  .popsection
)");
// clang-format on

namespace goro {
inline namespace GORO_DETAIL_ABI_NS {
namespace detail {

struct ctx_frame {
  std::uint32_t mxcsr;
  std::uint16_t fpucw;
  std::uint16_t pad;
  std::uint64_t r15, r14, r13, r12, rbx, rbp, ret;
};
static_assert(sizeof(ctx_frame) == 64, "ctx_frame must match goro_detail_ctx_swap's pushes");
static_assert(offsetof(ctx_frame, r12) == 32 && offsetof(ctx_frame, rbx) == 40 && offsetof(ctx_frame, ret) == 56,
              "ctx_frame offsets must match goro_detail_ctx_swap");

// ctx_make: see ctx.hpp. entry runs with rsp 16-byte aligned before its call
// (the ABI's requirement), on a stack whose top is stack_top rounded down.
inline void* ctx_make(void* stack_top, void (*entry)(void*), void* arg) noexcept {
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
  auto* f = reinterpret_cast<ctx_frame*>(top - sizeof(ctx_frame));
  f->mxcsr = 0x1F80;  // the ABI's initial MXCSR: all exceptions masked, round to nearest
  f->fpucw = 0x037F;  // the ABI's initial x87 control word
  f->pad = 0;
  f->r15 = f->r14 = f->r13 = 0;
  f->r12 = reinterpret_cast<std::uint64_t>(entry);
  f->rbx = reinterpret_cast<std::uint64_t>(arg);
  f->rbp = 0;
  f->ret = reinterpret_cast<std::uint64_t>(&goro_detail_ctx_entry);
  return f;
}

}  // namespace detail
}  // inline namespace GORO_DETAIL_ABI_NS
}  // namespace goro

#endif  // defined(__x86_64__)
#endif  // GORO_DETAIL_CTX_X86_64_HPP
