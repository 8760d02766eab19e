# QGIS descriptors of the module's applications, for QGIS's built-in OTB processing provider (QGIS 3.x up to
# 3.34). After the apps are built, otbQgisDescriptor loads each one from the build tree and writes
# <App>.txt + algs.txt into ${CMAKE_BINARY_DIR}/qgis/description, installed into
# <prefix>/share/decloud/qgis/description (python/decloud/qgis.py and `decloud qgis-setup` use them).
#
# otbQgisDescriptor names an app's group after its *first* doc tag (Learning, Filter...) and appends to
# algs.txt on every call: this file generates into a fresh folder and sets every group to "Decloud".
# Included from the top CMakeLists.txt; the build step runs this same file in script mode (cmake -P).

set(DECLOUD_QGIS_GROUP "Decloud")

if(CMAKE_SCRIPT_MODE_FILE)
  # cmake -DDESCRIPTOR=<otbQgisDescriptor> -DAPP_DIR=<dir of otbapp_*.so> -DOUT_DIR=<dir> -DAPPS=<a,b,..> -P
  string(REPLACE "," ";" _apps "${APPS}")
  set(_tmp "${OUT_DIR}.tmp")
  file(REMOVE_RECURSE "${_tmp}")
  file(MAKE_DIRECTORY "${_tmp}")
  set(ENV{OTB_APPLICATION_PATH} "${APP_DIR}")
  set(ENV{TF_CPP_MIN_LOG_LEVEL} "2")
  set(_index "")
  foreach(_app IN LISTS _apps)
    execute_process(COMMAND "${DESCRIPTOR}" "${_app}" "${APP_DIR}" "${_tmp}/"
      RESULT_VARIABLE _rc OUTPUT_VARIABLE _log ERROR_VARIABLE _log)
    if(NOT _rc EQUAL 0 OR NOT EXISTS "${_tmp}/${_app}.txt")
      message(FATAL_ERROR "otbQgisDescriptor ${_app} ${APP_DIR} failed (${_rc}):\n${_log}")
    endif()
    file(READ "${_tmp}/${_app}.txt" _text)
    if(NOT _text MATCHES "^${_app}[|\n]")
      message(FATAL_ERROR "otbQgisDescriptor could not load ${_app} from ${APP_DIR}:\n${_log}")
    endif()
    # Line 1: App|output key, line 2: description, line 3: group. (REGEX MATCH, not REGEX REPLACE: CMake's
    # REPLACE matches "^" again after each match and would rewrite every third line.)
    string(REGEX MATCH "^([^\n]*\n[^\n]*\n)[^\n]*\n" _head "${_text}")
    string(LENGTH "${_head}" _head_length)
    string(SUBSTRING "${_text}" ${_head_length} -1 _params)
    set(_text "${CMAKE_MATCH_1}${DECLOUD_QGIS_GROUP}\n${_params}")
    file(WRITE "${_tmp}/${_app}.txt" "${_text}")
    string(APPEND _index "${DECLOUD_QGIS_GROUP}|${_app}\n")
  endforeach()
  file(WRITE "${_tmp}/algs.txt" "${_index}")
  file(REMOVE_RECURSE "${OUT_DIR}")
  file(RENAME "${_tmp}" "${OUT_DIR}")
  return()
endif()

# Inside an OTB source tree, OTB's own QGIS wrapper (OTB_WRAP_QGIS) describes every app.
if(OTB_SOURCE_DIR)
  return()
endif()

find_program(DECLOUD_OTB_QGIS_DESCRIPTOR otbQgisDescriptor HINTS "${OTB_INSTALL_PREFIX}/bin")
if(NOT DECLOUD_OTB_QGIS_DESCRIPTOR)
  message(WARNING "otbQgisDescriptor not found (Debian: package otb-qgis): no QGIS descriptors")
  return()
endif()

# The module's apps: the otbapp_<App> targets of app/.
get_property(_decloud_targets DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/app" PROPERTY BUILDSYSTEM_TARGETS)
set(_decloud_apps "")
set(_decloud_app_targets "")
set(_decloud_qgis_files "")
set(_decloud_qgis_dir "${CMAKE_BINARY_DIR}/qgis/description")
foreach(_target IN LISTS _decloud_targets)
  if(_target MATCHES "^otbapp_(.+)$")
    list(APPEND _decloud_apps "${CMAKE_MATCH_1}")
    list(APPEND _decloud_app_targets "${_target}")
    list(APPEND _decloud_qgis_files "${_decloud_qgis_dir}/${CMAKE_MATCH_1}.txt")
  endif()
endforeach()
if(NOT _decloud_apps)
  message(FATAL_ERROR "DecloudQgis.cmake: no otbapp_* target in app/ (include it after the apps)")
endif()
list(GET _decloud_app_targets 0 _decloud_first_app)
string(REPLACE ";" "," _decloud_apps_arg "${_decloud_apps}")

add_custom_command(
  OUTPUT "${_decloud_qgis_dir}/algs.txt" ${_decloud_qgis_files}
  COMMAND "${CMAKE_COMMAND}" "-DDESCRIPTOR=${DECLOUD_OTB_QGIS_DESCRIPTOR}"
    "-DAPP_DIR=$<TARGET_FILE_DIR:${_decloud_first_app}>" "-DOUT_DIR=${_decloud_qgis_dir}"
    "-DAPPS=${_decloud_apps_arg}" -P "${CMAKE_CURRENT_LIST_FILE}"
  DEPENDS ${_decloud_app_targets} "${CMAKE_CURRENT_LIST_FILE}"
  COMMENT "QGIS descriptors of ${_decloud_apps_arg}"
  VERBATIM)
add_custom_target(decloud_qgis_descriptors ALL DEPENDS "${_decloud_qgis_dir}/algs.txt" ${_decloud_qgis_files})
install(FILES "${_decloud_qgis_dir}/algs.txt" ${_decloud_qgis_files}
  DESTINATION share/decloud/qgis/description)
