# Finds LibTorch (and, when wanted and present, the CUDA toolkit) and defines the targets that
# our libraries link. It never links libcuda: the driver is loaded at run time by jit/.
#
#   fx::torch_cpu  libc10 + libtorch_cpu, headers as system includes (what ir/ needs)
#   fx::torch      all of LibTorch: fx::torch_cpu plus libtorch_cuda/libc10_cuda when FX_HAVE_CUDA
#   fx::cuda       FX_HAVE_CUDA only: toolkit headers, CUDA::nvrtc, CUDA::cudart
#
# Sets FX_HAVE_CUDA (ON/OFF), FX_TORCH_VERSION and FX_TORCH_LIB_DIR. Include it at directory
# scope, not from a function: the wheel's TorchConfig calls enable_language(CUDA).
#
# Note [CUDA-enabled wheel without a toolkit]
# The torch wheel from PyPI is built with CUDA, and its Caffe2Config.cmake stops with a
# FATAL_ERROR ("Your installed Caffe2 version uses CUDA but I cannot find the CUDA libraries")
# when no toolkit is found. Its runtime libraries (cudart, cublas, ...) come from the nvidia-*
# wheels, so the CPU half links and runs fine without one. When the GPU parts are off we
# therefore skip TorchConfig and import torch's exported targets (Caffe2Targets.cmake) directly,
# with empty stand-ins for the CUDA targets we never link.
include_guard(GLOBAL)

set(FX_TORCH "wheel" CACHE STRING
    "Where LibTorch comes from: wheel (torch from PyPI in FX_VENV) or system (Debian libtorch-dev)")
set_property(CACHE FX_TORCH PROPERTY STRINGS wheel system)
set(FX_VENV "$ENV{HOME}/.cache/fx/venv-torch2.11" CACHE PATH
    "Python virtual environment holding the torch wheel (FX_TORCH=wheel)")
set(FX_CUDA "AUTO" CACHE STRING "GPU parts: AUTO (on when the toolkit is found), ON (required), OFF")
set_property(CACHE FX_CUDA PROPERTY STRINGS AUTO ON OFF)
if(DEFINED CUDAToolkit_ROOT)
  set(_fx_cuda_root_default "${CUDAToolkit_ROOT}")
elseif(DEFINED ENV{CUDA_HOME})
  set(_fx_cuda_root_default "$ENV{CUDA_HOME}")
else()
  set(_fx_cuda_root_default "/usr/local/cuda")
endif()
set(FX_CUDA_ROOT "${_fx_cuda_root_default}" CACHE PATH "CUDA toolkit root (nvcc, NVRTC, headers)")
set(CMAKE_CUDA_ARCHITECTURES "90" CACHE STRING "GPU architectures for our CUDA code (90: H100/H200)")

string(TOUPPER "${FX_CUDA}" _fx_cuda_mode)
if(NOT _fx_cuda_mode MATCHES "^(AUTO|ON|OFF|TRUE|FALSE|YES|NO|1|0)$")
  message(FATAL_ERROR "FX_CUDA must be AUTO, ON or OFF, not '${FX_CUDA}'")
endif()
if(_fx_cuda_mode MATCHES "^(TRUE|YES|1)$")
  set(_fx_cuda_mode ON)
elseif(_fx_cuda_mode MATCHES "^(FALSE|NO|0)$")
  set(_fx_cuda_mode OFF)
endif()

# Decides whether the GPU parts are built; ON turns "cannot" into an error.
macro(_fx_cuda_unavailable reason)
  if(_fx_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "FX_CUDA=ON but ${reason}; set FX_CUDA=AUTO or OFF to build without GPU parts")
  endif()
  set(FX_HAVE_CUDA OFF)
  set(_fx_cuda_reason "${reason}")
endmacro()

# Reads the CUDA version from a toolkit's cuda.h (e.g. 13000 -> 13.0); empty when absent.
function(_fx_toolkit_version root out)
  set(version "")
  if(EXISTS "${root}/include/cuda.h")
    file(STRINGS "${root}/include/cuda.h" line REGEX "^#define CUDA_VERSION [0-9]+")
    if(line MATCHES "CUDA_VERSION ([0-9]+)")
      math(EXPR major "${CMAKE_MATCH_1} / 1000")
      math(EXPR minor "(${CMAKE_MATCH_1} % 1000) / 10")
      set(version "${major}.${minor}")
    endif()
  endif()
  set(${out} "${version}" PARENT_SCOPE)
endfunction()

# ---- LibTorch location ---------------------------------------------------------------------------
set(FX_HAVE_CUDA ON)
set(_fx_cuda_reason "")
if(_fx_cuda_mode STREQUAL "OFF")
  _fx_cuda_unavailable("FX_CUDA=OFF")
endif()

if(FX_TORCH STREQUAL "wheel")
  set(_fx_python "${FX_VENV}/bin/python")
  if(NOT EXISTS "${_fx_python}")
    message(FATAL_ERROR
        "FX_TORCH=wheel but there is no Python at ${_fx_python}: run scripts/setup.sh, "
        "point FX_VENV at a virtual environment with torch installed, or use FX_TORCH=system")
  endif()
  # Importing torch takes seconds, so the answer is cached, and asked again only when the venv
  # changes, or torch in it is reinstalled (its version.py changes) or gone.
  set(_fx_key "${FX_VENV}")
  if(EXISTS "${_FX_TORCH_CMAKE_PREFIX}/../../version.py")
    file(TIMESTAMP "${_FX_TORCH_CMAKE_PREFIX}/../../version.py" _fx_stamp UTC)
    string(APPEND _fx_key "@${_fx_stamp}")
  endif()
  if(NOT _FX_TORCH_QUERY_KEY STREQUAL _fx_key
     OR NOT EXISTS "${_FX_TORCH_CMAKE_PREFIX}/Torch/TorchConfig.cmake")
    execute_process(
        COMMAND "${_fx_python}" -c
                "import torch; print(torch.utils.cmake_prefix_path); print(torch.__version__); print(torch.version.cuda or 'none')"
        OUTPUT_VARIABLE _fx_out ERROR_VARIABLE _fx_err RESULT_VARIABLE _fx_rc
        OUTPUT_STRIP_TRAILING_WHITESPACE)
    string(REPLACE "\n" ";" _fx_out "${_fx_out}")
    list(LENGTH _fx_out _fx_n)
    if(NOT _fx_rc EQUAL 0 OR _fx_n LESS 3)
      message(FATAL_ERROR "cannot import torch with ${_fx_python} (run scripts/setup.sh):\n${_fx_err}")
    endif()
    list(GET _fx_out -3 _fx_prefix)
    list(GET _fx_out -2 _fx_version)
    list(GET _fx_out -1 _fx_wheel_cuda)
    if(_fx_wheel_cuda STREQUAL "none")
      set(_fx_wheel_cuda "")
    endif()
    set(_FX_TORCH_CMAKE_PREFIX "${_fx_prefix}" CACHE INTERNAL "")
    set(_FX_TORCH_VERSION "${_fx_version}" CACHE INTERNAL "")
    set(_FX_TORCH_WHEEL_CUDA "${_fx_wheel_cuda}" CACHE INTERNAL "")
    file(TIMESTAMP "${_fx_prefix}/../../version.py" _fx_stamp UTC)
    set(_FX_TORCH_QUERY_KEY "${FX_VENV}@${_fx_stamp}" CACHE INTERNAL "")
  endif()
  set(FX_TORCH_VERSION "${_FX_TORCH_VERSION}")
  get_filename_component(_fx_torch_root "${_FX_TORCH_CMAKE_PREFIX}/../.." ABSOLUTE)
  set(FX_TORCH_LIB_DIR "${_fx_torch_root}/lib")

  # ---- CUDA toolkit -------------------------------------------------------------------------------
  if(FX_HAVE_CUDA)
    _fx_toolkit_version("${FX_CUDA_ROOT}" _fx_toolkit_version)
    if(_FX_TORCH_WHEEL_CUDA STREQUAL "")
      _fx_cuda_unavailable("the torch wheel in ${FX_VENV} is CPU-only")
    elseif(NOT EXISTS "${FX_CUDA_ROOT}/bin/nvcc" OR _fx_toolkit_version STREQUAL ""
           OR NOT EXISTS "${FX_CUDA_ROOT}/include/nvrtc.h")
      _fx_cuda_unavailable("no CUDA toolkit (nvcc, cuda.h, nvrtc.h) at FX_CUDA_ROOT=${FX_CUDA_ROOT}")
    else()
      string(REGEX MATCH "^[0-9]+" _fx_tk_major "${_fx_toolkit_version}")
      string(REGEX MATCH "^[0-9]+" _fx_wheel_major "${_FX_TORCH_WHEEL_CUDA}")
      if(NOT _fx_tk_major STREQUAL _fx_wheel_major)
        message(WARNING "the CUDA toolkit at ${FX_CUDA_ROOT} is ${_fx_toolkit_version} but torch "
                        "${FX_TORCH_VERSION} was built with CUDA ${_FX_TORCH_WHEEL_CUDA}; prefer a "
                        "wheel whose CUDA major version matches the toolkit's")
      endif()
    endif()
  endif()

  if(FX_HAVE_CUDA)
    set(CUDAToolkit_ROOT "${FX_CUDA_ROOT}")
    set(CUDA_TOOLKIT_ROOT_DIR "${FX_CUDA_ROOT}" CACHE PATH "CUDA toolkit for torch's FindCUDA")
    set(CMAKE_CUDA_COMPILER "${FX_CUDA_ROOT}/bin/nvcc" CACHE FILEPATH "CUDA compiler")
    # torch's cuda.cmake ignores CMAKE_CUDA_ARCHITECTURES (with a warning, and resets it to OFF)
    # and wants TORCH_CUDA_ARCH_LIST ("9.0") instead: hand it that, and restore ours afterwards.
    set(_fx_cuda_archs "${CMAKE_CUDA_ARCHITECTURES}")
    set(_fx_torch_archs "")
    foreach(_fx_arch IN LISTS _fx_cuda_archs)
      if(_fx_arch MATCHES "^([0-9]+)([0-9])([a-z]?)(-real|-virtual)?$")
        list(APPEND _fx_torch_archs "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
      endif()
    endforeach()
    if(_fx_torch_archs AND NOT DEFINED TORCH_CUDA_ARCH_LIST)
      set(TORCH_CUDA_ARCH_LIST "${_fx_torch_archs}")
    endif()
    unset(CMAKE_CUDA_ARCHITECTURES)
    unset(CMAKE_CUDA_ARCHITECTURES CACHE)
    # kineto is linked into libtorch_cpu in the wheel; stops "library kineto not found".
    set(kineto_LIBRARY "${FX_TORCH_LIB_DIR}/libtorch_cpu.so" CACHE INTERNAL "")
    cmake_policy(PUSH)
    cmake_policy(SET CMP0104 OLD)  # enable_language(CUDA) must not define CMAKE_CUDA_ARCHITECTURES
    find_package(Torch REQUIRED CONFIG PATHS "${_FX_TORCH_CMAKE_PREFIX}" NO_DEFAULT_PATH)
    cmake_policy(POP)
    if(TARGET caffe2::mkl AND NOT MKL_FOUND)
      # Without MKL, torch's mkl.cmake still adds link directories /lib/intel64 etc.
      set_property(TARGET caffe2::mkl PROPERTY INTERFACE_LINK_DIRECTORIES "")
    endif()
    unset(CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "${_fx_cuda_archs}" CACHE STRING
        "GPU architectures for our CUDA code (90: H100/H200)" FORCE)
    find_package(CUDAToolkit REQUIRED)  # already found by torch; makes CUDA::* visible here
  else()
    # See Note [CUDA-enabled wheel without a toolkit].
    foreach(_fx_stub IN ITEMS torch::cudart protobuf::libprotobuf caffe2::mkl)
      if(NOT TARGET ${_fx_stub})
        add_library(${_fx_stub} INTERFACE IMPORTED)
      endif()
    endforeach()
    if(NOT TARGET torch_cpu)
      include("${_FX_TORCH_CMAKE_PREFIX}/Caffe2/Caffe2Targets.cmake")
    endif()
  endif()
  set(_fx_torch_includes "${_fx_torch_root}/include" "${_fx_torch_root}/include/torch/csrc/api/include")
  set(_fx_torch_cxx_flags "")

elseif(FX_TORCH STREQUAL "system")
  # Debian's libtorch-dev (1.13) is CPU-only.
  _fx_cuda_unavailable("FX_TORCH=system (Debian's libtorch-dev) has no CUDA")
  find_package(Torch CONFIG QUIET)
  if(NOT Torch_FOUND)
    message(FATAL_ERROR "FX_TORCH=system but LibTorch's CMake config was not found: "
                        "apt-get install libtorch-dev, or use FX_TORCH=wheel")
  endif()
  set(FX_TORCH_VERSION "${Torch_VERSION}")
  get_filename_component(FX_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
  set(_fx_torch_includes ${TORCH_INCLUDE_DIRS})
  set(_fx_torch_cxx_flags ${TORCH_CXX_FLAGS})
else()
  message(FATAL_ERROR "FX_TORCH must be 'wheel' or 'system', not '${FX_TORCH}'")
endif()

# ---- Our targets ---------------------------------------------------------------------------------
# IMPORTED, so their include directories are system includes for whoever links them, and so
# fxConfig.cmake can define them again for users of an installed fx.
if(NOT TARGET fx::torch_cpu)
  add_library(fx::torch_cpu INTERFACE IMPORTED GLOBAL)
  if(TARGET torch_cpu AND TARGET c10)
    set_property(TARGET fx::torch_cpu PROPERTY INTERFACE_LINK_LIBRARIES torch_cpu c10)
  else()
    set_property(TARGET fx::torch_cpu PROPERTY INTERFACE_LINK_LIBRARIES ${TORCH_LIBRARIES})
  endif()
  set_property(TARGET fx::torch_cpu PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${_fx_torch_includes})
  if(_fx_torch_cxx_flags)
    separate_arguments(_fx_torch_cxx_flags UNIX_COMMAND "${_fx_torch_cxx_flags}")
    set_property(TARGET fx::torch_cpu PROPERTY INTERFACE_COMPILE_OPTIONS ${_fx_torch_cxx_flags})
  endif()

  add_library(fx::torch INTERFACE IMPORTED GLOBAL)
  set_property(TARGET fx::torch PROPERTY INTERFACE_LINK_LIBRARIES fx::torch_cpu)
  if(FX_HAVE_CUDA)
    # libtorch_cuda registers the CUDA kernels from static initialisers, so it is linked even
    # though nothing refers to it by name (torch's own targets do the same).
    set_property(TARGET fx::torch APPEND PROPERTY INTERFACE_LINK_LIBRARIES
                 "-Wl,--no-as-needed,\"$<TARGET_FILE:torch_cuda>\" -Wl,--as-needed"
                 c10_cuda CUDA::cudart)

    add_library(fx::cuda INTERFACE IMPORTED GLOBAL)
    # NVRTC by file: torch's FindCUDAToolkit gives CUDA::nvrtc a dependency on the driver stub
    # (stubs/libcuda.so), which would make binaries need libcuda.so.1 to start whenever the linker
    # keeps it (sanitizer builds do). The driver is loaded at run time instead (jit/cuda_driver.h).
    get_target_property(_fx_nvrtc_lib CUDA::nvrtc IMPORTED_LOCATION)
    if(NOT _fx_nvrtc_lib)
      get_target_property(_fx_nvrtc_lib CUDA::nvrtc IMPORTED_LOCATION_RELEASE)
    endif()
    if(NOT _fx_nvrtc_lib)
      set(_fx_nvrtc_lib CUDA::nvrtc)
    endif()
    set_property(TARGET fx::cuda PROPERTY INTERFACE_LINK_LIBRARIES "${_fx_nvrtc_lib}" CUDA::cudart)
    set_property(TARGET fx::cuda PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${CUDAToolkit_INCLUDE_DIRS})
    set_property(TARGET fx::cuda PROPERTY INTERFACE_COMPILE_DEFINITIONS FX_HAVE_CUDA=1)
  endif()
endif()

if(FX_HAVE_CUDA)
  message(STATUS "fx: LibTorch ${FX_TORCH_VERSION} (${FX_TORCH}) from ${FX_TORCH_LIB_DIR}; GPU parts ON: "
                 "CUDA ${CUDAToolkit_VERSION} at ${FX_CUDA_ROOT}, architectures ${CMAKE_CUDA_ARCHITECTURES}")
else()
  message(STATUS "fx: LibTorch ${FX_TORCH_VERSION} (${FX_TORCH}) from ${FX_TORCH_LIB_DIR}; GPU parts OFF: "
                 "${_fx_cuda_reason} (CPU-only libtorch_cpu/c10 are linked)")
endif()
