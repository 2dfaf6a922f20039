// Catch2's main, built once per configuration (it compiles slowly).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
