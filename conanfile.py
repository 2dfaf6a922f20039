# Conan 2 recipe for goro, a header-only library: the package holds goro.hpp,
# include/goro/*.hpp and the license. Consumers get find_package(goro) and the
# goro::goro target through CMakeDeps, with pthread linked.
#
#   conan create .          builds the package and runs test_package/
import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout


class GoroConan(ConanFile):
    name = "goro"
    description = "Go's runtime as a C++20 header library: goroutines, channels, select, sync, timers, netpoller"
    license = "MIT"
    topics = ("goroutines", "coroutines", "channels", "scheduler", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = "goro.hpp", "include/goro/*.hpp", "LICENSE"
    no_copy_source = True

    def set_version(self):
        # The version lives in one place: include/goro/config.hpp.
        text = load(self, os.path.join(self.recipe_folder, "include", "goro", "config.hpp"))
        parts = [re.search(r"#define GORO_VERSION_%s (\d+)" % p, text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
        self.version = ".".join(parts)

    def layout(self):
        basic_layout(self, src_folder=".")

    def package_id(self):
        # Header-only: one package for every configuration.
        self.info.clear()

    def validate(self):
        if self.settings.os != "Linux":
            raise ConanInvalidConfiguration("goro supports Linux only (futex, epoll, mmap guard pages)")
        if str(self.settings.arch) not in ("x86_64", "armv8"):
            raise ConanInvalidConfiguration("goro supports x86-64 and AArch64 only")
        check_min_cppstd(self, 20)

    def package(self):
        copy(self, "LICENSE", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        copy(self, "goro.hpp", src=self.source_folder, dst=os.path.join(self.package_folder, "include"))
        copy(self, "*.hpp", src=os.path.join(self.source_folder, "include", "goro"),
             dst=os.path.join(self.package_folder, "include", "goro"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "goro")
        self.cpp_info.set_property("cmake_target_name", "goro::goro")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.system_libs = ["pthread"]
