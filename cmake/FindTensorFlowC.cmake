# Find TensorFlow's C API inside the tensorflow pip package of a Python interpreter.
#
# The wheel (tensorflow-cpu or the CUDA tensorflow: same C API) ships the headers under
# tensorflow/include and two libraries without unversioned links: libtensorflow_cc.so.2 (sessions,
# graphs) and libtensorflow_framework.so.2 (tensors, status). Both are needed.
#
# Input:  Python3_EXECUTABLE (default: python3 on PATH)
# Output: TensorFlowC_FOUND, TensorFlowC_INCLUDE_DIR, TensorFlowC_LIBRARIES, TensorFlowC_LIBRARY_DIR,
#         imported target TensorFlow::C

if(NOT Python3_EXECUTABLE)
  find_program(Python3_EXECUTABLE NAMES python3 python)
endif()

# Locate the package without importing it (importing TensorFlow takes seconds and may need a GPU driver).
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c
    "import importlib.util as u; s = u.find_spec('tensorflow'); print(list(s.submodule_search_locations)[0] if s else '')"
  OUTPUT_VARIABLE _tf_dir OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _tf_rc)

if(_tf_dir)
  find_path(TensorFlowC_INCLUDE_DIR NAMES tensorflow/c/c_api.h PATHS "${_tf_dir}/include" NO_DEFAULT_PATH)
  find_library(TensorFlowC_CC_LIBRARY NAMES libtensorflow_cc.so.2 PATHS "${_tf_dir}" NO_DEFAULT_PATH)
  find_library(TensorFlowC_FRAMEWORK_LIBRARY NAMES libtensorflow_framework.so.2 PATHS "${_tf_dir}" NO_DEFAULT_PATH)
  set(TensorFlowC_LIBRARY_DIR "${_tf_dir}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TensorFlowC
  REQUIRED_VARS TensorFlowC_INCLUDE_DIR TensorFlowC_CC_LIBRARY TensorFlowC_FRAMEWORK_LIBRARY
  FAIL_MESSAGE "TensorFlow's C API not found in the tensorflow package of ${Python3_EXECUTABLE} \
(install tensorflow-cpu or tensorflow there, or pass -DPython3_EXECUTABLE=<venv>/bin/python)")

if(TensorFlowC_FOUND)
  set(TensorFlowC_LIBRARIES ${TensorFlowC_CC_LIBRARY} ${TensorFlowC_FRAMEWORK_LIBRARY})
  if(NOT TARGET TensorFlow::C)
    add_library(TensorFlow::C INTERFACE IMPORTED)
    set_target_properties(TensorFlow::C PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${TensorFlowC_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${TensorFlowC_LIBRARIES}")
  endif()
  message(STATUS "TensorFlow C API: ${TensorFlowC_LIBRARY_DIR}")
endif()
mark_as_advanced(TensorFlowC_INCLUDE_DIR TensorFlowC_CC_LIBRARY TensorFlowC_FRAMEWORK_LIBRARY)
