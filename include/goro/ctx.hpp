// goro/ctx.hpp — the context switch: the per-architecture interface.
//
// A context is a saved stack pointer. Switching stores the callee-saved state
// of the running context on its own stack, saves its stack pointer, loads the
// target's, and pops the target's state. Each architecture file provides:
//
//   extern "C" void goro_detail_ctx_swap(void** save_sp, void* load_sp);
//       Saves the current context into *save_sp and resumes load_sp. Returns
//       when something swaps back to the saved context.
//   void* ctx_make(void* stack_top, void (*entry)(void*), void* arg);
//       Prepares a fresh context on [.., stack_top) that, when swapped to,
//       calls entry(arg) on that stack. entry must never return.
//
// What a swap saves: the registers the ABI makes callee-saved, the stack
// pointer and the floating-point control words (MXCSR and the x87 control word
// on x86-64, FPCR on AArch64), because a goroutine may resume on another M.
// What it skips: caller-saved registers (the compiler already spilled them
// around the call), the vector registers beyond the callee-saved ones, and the
// FP status flags (sticky exception bits are per thread in C++ as well).
// A swap never crosses threads: the departing and the arriving context run on
// the same M; the departing context may later be resumed by another M.
//
// The asm is emitted from the header into a COMDAT section, so every TU may
// include it and the linker keeps one copy (no separate .S file to build).
#ifndef GORO_DETAIL_CTX_HPP
#define GORO_DETAIL_CTX_HPP

#include "config.hpp"

// Each architecture file compiles to nothing on other architectures.
#include "ctx_x86_64.hpp"
#include "ctx_aarch64.hpp"

#endif  // GORO_DETAIL_CTX_HPP
