# tests/consumers/vcpkg_mock.cmake — runs ports/goro/portfile.cmake without
# vcpkg (which is not installed here), with stand-ins for the vcpkg helpers it
# calls: configure and install really run CMake on goro with the portfile's
# options into MOCK_PACKAGES_DIR; config_fixup and install_copyright check
# their inputs and do the file moves only (vcpkg's own fixup also rewrites the
# relocated target files: that part is not exercised here).
#
#   cmake -DMOCK_PACKAGES_DIR=<dir> -DMOCK_BUILD_DIR=<dir> [-DMOCK_GENERATOR=<generator>]
#         [-DMOCK_CXX_COMPILER=<c++>] -P vcpkg_mock.cmake
#
# The configure names its generator, as vcpkg does (it brings its own Ninja):
# MOCK_GENERATOR, else Ninja when ninja is on PATH. CMake's default, Unix
# Makefiles, would need make, which a Debian without Recommends lacks.
cmake_minimum_required(VERSION 3.16)
if(NOT MOCK_GENERATOR)
  find_program(_mock_ninja ninja)
  if(_mock_ninja)
    set(MOCK_GENERATOR Ninja)
  endif()
endif()
set(_mock_configure_args)
if(MOCK_GENERATOR)
  set(_mock_configure_args -G "${MOCK_GENERATOR}")
endif()
if(MOCK_CXX_COMPILER)
  list(APPEND _mock_configure_args "-DCMAKE_CXX_COMPILER=${MOCK_CXX_COMPILER}")
endif()
set(CURRENT_PACKAGES_DIR "${MOCK_PACKAGES_DIR}")
set(PORT goro)
get_filename_component(_port_dir "${CMAKE_CURRENT_LIST_DIR}/../../ports/goro" ABSOLUTE)
file(READ "${_port_dir}/vcpkg.json" _manifest)
string(JSON VERSION GET "${_manifest}" version)

function(_mock_run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "vcpkg mock: '${ARGN}' failed (${rc})")
  endif()
endfunction()

function(vcpkg_cmake_configure)
  cmake_parse_arguments(arg "" "SOURCE_PATH" "OPTIONS" ${ARGN})
  message(STATUS "vcpkg_cmake_configure(${arg_SOURCE_PATH} ${arg_OPTIONS})")
  _mock_run("${CMAKE_COMMAND}" -S "${arg_SOURCE_PATH}" -B "${MOCK_BUILD_DIR}" ${_mock_configure_args} -DCMAKE_BUILD_TYPE=Release
            "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}" ${arg_OPTIONS})
endfunction()

function(vcpkg_cmake_install)
  message(STATUS "vcpkg_cmake_install()")
  _mock_run("${CMAKE_COMMAND}" --build "${MOCK_BUILD_DIR}")
  _mock_run("${CMAKE_COMMAND}" --install "${MOCK_BUILD_DIR}")
endfunction()

function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(arg "" "CONFIG_PATH" "" ${ARGN})
  message(STATUS "vcpkg_cmake_config_fixup(CONFIG_PATH ${arg_CONFIG_PATH})")
  foreach(f goroConfig.cmake goroConfigVersion.cmake goroTargets.cmake)
    if(NOT EXISTS "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}/${f}")
      message(FATAL_ERROR "vcpkg mock: ${arg_CONFIG_PATH}/${f} was not installed")
    endif()
  endforeach()
  file(RENAME "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}" "${CURRENT_PACKAGES_DIR}/share/${PORT}.cmake-moved")
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/cmake")
  file(RENAME "${CURRENT_PACKAGES_DIR}/share/${PORT}.cmake-moved" "${CURRENT_PACKAGES_DIR}/share/${PORT}")
endfunction()

function(vcpkg_install_copyright)
  cmake_parse_arguments(arg "" "" "FILE_LIST" ${ARGN})
  message(STATUS "vcpkg_install_copyright(${arg_FILE_LIST})")
  foreach(f ${arg_FILE_LIST})
    if(NOT EXISTS "${f}")
      message(FATAL_ERROR "vcpkg mock: license file ${f} missing")
    endif()
  endforeach()
  file(COPY_FILE "${arg_FILE_LIST}" "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright")
endfunction()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}" "${MOCK_BUILD_DIR}")
include("${_port_dir}/portfile.cmake")

foreach(f include/goro.hpp include/goro/sched.hpp share/goro/goroConfig.cmake share/goro/copyright)
  if(NOT EXISTS "${CURRENT_PACKAGES_DIR}/${f}")
    message(FATAL_ERROR "vcpkg mock: the port did not produce ${f}")
  endif()
endforeach()
foreach(d lib debug share/doc share/cmake)
  if(EXISTS "${CURRENT_PACKAGES_DIR}/${d}")
    message(FATAL_ERROR "vcpkg mock: the port left ${d} behind")
  endif()
endforeach()
message(STATUS "vcpkg mock: port goro ${VERSION} produced the expected tree")
