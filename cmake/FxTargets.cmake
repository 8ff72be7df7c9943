# Helpers that give every fx target the same shape: one static library per source folder, one
# test binary per test folder, one benchmark binary per bench/*_bench.cpp. They apply our warning
# flags, C++17, FX_HAVE_CUDA and a shared precompiled header; third-party targets get none of it.
#
# Note [Precompiled headers]
# Parsing LibTorch's headers dominates our compile times, so they are precompiled once per
# flavour by a small object library and every target reuses that (REUSE_FROM needs identical
# flags, which _fx_target_flags guarantees):
#   core  cmake/torch_pch.h (c10/ATen core types, 135 MB): ir/, its tests, bench, tools
#   aten  cmake/aten_pch.h  (+ ATen.h, dispatcher; 430 MB): runtime/, jit/ and their tests
# A library picks its flavour; test binaries, benchmarks and tools take the flavour of the
# library they link. Libraries are position-independent code (the Triton backend links them into
# a shared library) and so use a position-independent copy of their flavour's header
# (fx_pch_<flavour>_pic); executables keep the plain one. FX_PCH=OFF turns all of it off. The header is seen by every file, so a
# missing #include goes unnoticed and a name in it can change lookup (ADL found std::quoted for
# an unqualified quoted() once <iomanip> was in); an FX_PCH=OFF build checks both.
include_guard(GLOBAL)

option(FX_PCH "Precompile the LibTorch headers" ON)

function(_fx_target_flags target)
  target_compile_features(${target} PRIVATE cxx_std_17)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    # GCC 12 reports -Wstringop-overflow inside libstdc++'s atomics when it inlines
    # LibTorch's intrusive_ptr refcounting: a known false positive, not our code.
    target_compile_options(${target} PRIVATE -Wall -Wextra $<$<BOOL:${FX_WERROR}>:-Werror>
                           $<$<CXX_COMPILER_ID:GNU>:-Wno-stringop-overflow>)
  endif()
  if(FX_HAVE_CUDA)
    target_compile_definitions(${target} PRIVATE FX_HAVE_CUDA=1)
  endif()
endfunction()

# Creates fx_pch_<flavour>[_pic], whose only job is to own the precompiled header.
function(_fx_pch_target flavour pic out)
  set(name "fx_pch_${flavour}")
  if(pic)
    string(APPEND name "_pic")
  endif()
  set(${out} "${name}" PARENT_SCOPE)
  if(TARGET ${name})
    return()
  endif()
  if(flavour STREQUAL "core")
    set(header "${PROJECT_SOURCE_DIR}/cmake/torch_pch.h")
  elseif(flavour STREQUAL "aten")
    set(header "${PROJECT_SOURCE_DIR}/cmake/aten_pch.h")
  else()
    message(FATAL_ERROR "unknown precompiled header flavour '${flavour}' (core or aten)")
  endif()
  set(src "${PROJECT_BINARY_DIR}/${name}.cpp")
  if(NOT EXISTS "${src}")
    file(WRITE "${src}" "// Only compiles the precompiled header ${header}.\n")
  endif()
  add_library(${name} OBJECT EXCLUDE_FROM_ALL "${src}")
  target_link_libraries(${name} PRIVATE fx::torch_cpu)
  _fx_target_flags(${name})
  if(pic)
    set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()
  target_precompile_headers(${name} PRIVATE "${header}")
endfunction()

# fx_target_defaults(<target> [PCH core|aten|none])
# Warnings, C++17, FX_HAVE_CUDA and the shared precompiled header for one of our targets.
function(fx_target_defaults target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "PCH" "")
  if(NOT arg_PCH)
    set(arg_PCH core)
  endif()
  _fx_target_flags(${target})
  set_target_properties(${target} PROPERTIES FX_PCH_FLAVOUR ${arg_PCH})
  if(FX_PCH AND NOT arg_PCH STREQUAL "none")
    get_target_property(pic ${target} POSITION_INDEPENDENT_CODE)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "SHARED_LIBRARY" OR type STREQUAL "MODULE_LIBRARY")
      set(pic ON)
    endif()
    _fx_pch_target(${arg_PCH} "${pic}" pch)
    target_precompile_headers(${target} REUSE_FROM ${pch})
  endif()
endfunction()

# The precompiled header flavour of an fx library (core when it has none).
function(_fx_pch_flavour_of library out)
  set(flavour core)
  if(TARGET ${library})
    get_target_property(aliased ${library} ALIASED_TARGET)
    if(aliased)
      set(library ${aliased})
    endif()
    get_target_property(flavour ${library} FX_PCH_FLAVOUR)
    if(NOT flavour)
      set(flavour core)
    endif()
  endif()
  set(${out} ${flavour} PARENT_SCOPE)
endfunction()

# fx_add_library(<name> DIR <folder> [LINK <targets>...] [PCH core|aten])
# A static library from <folder>/*.cpp, exported as fx::<name without fx_>. Its headers are
# included as "<folder>/x.h" from the repository root and installed under include/fx/<folder>/.
# Does nothing while the folder has no sources, so a folder can be listed before its first file
# lands; test with if(TARGET <name>).
function(fx_add_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DIR;PCH" "LINK")
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${arg_DIR}/*.cpp")
  file(GLOB headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${arg_DIR}/*.h")
  if(NOT sources)
    message(STATUS "fx: ${arg_DIR}/ has no sources yet, ${name} is not built")
    return()
  endif()
  add_library(${name} STATIC ${sources} ${headers})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  string(REGEX REPLACE "^fx_" "" short "${name}")
  add_library(fx::${short} ALIAS ${name})
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${short})
  target_include_directories(${name} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/fx>)
  target_link_libraries(${name} PUBLIC ${arg_LINK})
  if(FX_HAVE_CUDA)
    # Users' code sees the same #if FX_HAVE_CUDA branches of our headers as our own code.
    target_compile_definitions(${name} INTERFACE FX_HAVE_CUDA=1)
  endif()
  fx_target_defaults(${name} PCH ${arg_PCH})
  install(FILES ${headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/fx/${arg_DIR})
  set_property(GLOBAL APPEND PROPERTY FX_LIBRARIES ${name})
endfunction()

# fx_add_executable(<name> SOURCES <files>... [LINK <targets>...])
# An executable in the build folder's root (build/fxjit, build/fx_ir_tests, ...). Its
# precompiled header is that of the first fx library it links.
function(fx_add_executable name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;LINK")
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE ${arg_LINK})
  set(flavour core)
  foreach(dep IN LISTS arg_LINK)
    if(TARGET ${dep} AND dep MATCHES "^fx_|^fx::")
      _fx_pch_flavour_of(${dep} flavour)
      break()
    endif()
  endforeach()
  fx_target_defaults(${name} PCH ${flavour})
endfunction()

# The most complete fx library built so far (jit > runtime > ir): what tools and benchmarks of
# the whole stack link.
function(fx_top_library out)
  foreach(lib IN ITEMS fx_jit fx_runtime fx_ir)
    if(TARGET ${lib})
      set(${out} ${lib} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "no fx library is built (ir/ has no sources?)")
endfunction()
