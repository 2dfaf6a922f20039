# examples/check_output.cmake — an example's smoke test: runs EXE with ARGS,
# fails unless it exits 0 and its output (stdout and stderr together) matches
# every regular expression in EXPECT (a ;-list, all required, unlike ctest's
# PASS_REGULAR_EXPRESSION, which takes any one and ignores the exit code).
#
#   cmake -DEXE=<path> [-DARGS=a;b] [-DEMULATOR=qemu-aarch64;-L;...] -DEXPECT=re1;re2 -P check_output.cmake
#
# EMULATOR (a cross build's CMAKE_CROSSCOMPILING_EMULATOR) runs EXE.
execute_process(COMMAND ${EMULATOR} "${EXE}" ${ARGS} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
set(all "${out}${err}")
message("${all}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} exited with ${rc}")
endif()
foreach(re IN LISTS EXPECT)
  if(NOT all MATCHES "${re}")
    message(FATAL_ERROR "${EXE}: output does not match '${re}'")
  endif()
endforeach()
