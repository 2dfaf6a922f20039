# vcpkg port for goro, an overlay port kept in goro's own repository: it builds
# the checkout it lives in (two directories up), so
#   vcpkg install goro --overlay-ports=<goro>/ports
# installs the working tree. A registry port would fetch a release instead with
# vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/goro REF v${VERSION} SHA512 <hash>).
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# Header-only: one (release) configuration is enough.
set(VCPKG_BUILD_TYPE release)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DGORO_BUILD_TESTS=OFF
    -DGORO_BUILD_EXAMPLES=OFF
    -DGORO_BUILD_BENCH=OFF
    -DGORO_INSTALL=ON
)
vcpkg_cmake_install()
# goro installs its package files under share/cmake/goro; vcpkg wants share/goro.
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/goro)

# Nothing is compiled: no lib/ or debug/ tree, and the license goes to copyright.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib" "${CURRENT_PACKAGES_DIR}/share/doc")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
