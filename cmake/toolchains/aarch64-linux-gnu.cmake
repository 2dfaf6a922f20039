# Cross-compiling goro's tests for AArch64 Linux with Debian's cross compiler
# (g++-aarch64-linux-gnu) and running them under qemu-user (qemu-aarch64):
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
# ctest runs every test through CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Catch2 v2 is header-only and architecture-independent: the host's package
# (/usr/lib/cmake/Catch2, /usr/include/catch2) serves the target too.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
