# The shipped models: models/<name>/ (a SavedModel and its card) installed to share/decloud/models/<name>.
#
# `install(DIRECTORY)` only adds files, so a model dropped from models/ would stay in the installed folder, where
# `decloud` and DecloudInfer list it. The install keeps a manifest of the models it put there
# (share/decloud/models/.shipped) and removes those of the previous install that models/ no longer has (and those
# shipped before the manifest existed): a folder with a card.json, or only empty folders left. A model a user put
# in that folder is never in the manifest, and is kept.

install(DIRECTORY models/ DESTINATION share/decloud/models PATTERN "README.md" EXCLUDE)
install(CODE "
  set(_src \"${CMAKE_CURRENT_SOURCE_DIR}/models\")
  set(_dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/share/decloud/models\")
  file(GLOB _entries RELATIVE \"\${_src}\" \"\${_src}/*/card.json\")
  set(_shipped \"\")
  foreach(_entry IN LISTS _entries)
    get_filename_component(_name \"\${_entry}\" DIRECTORY)
    list(APPEND _shipped \"\${_name}\")
  endforeach()
  # and the models the project shipped before the manifest existed, and has dropped since
  set(_previous gfnet-v1 gfnet-v2)
  if(EXISTS \"\${_dest}/.shipped\")
    file(STRINGS \"\${_dest}/.shipped\" _manifest)
    list(APPEND _previous \${_manifest})
  endif()
  foreach(_name IN LISTS _previous)
    list(FIND _shipped \"\${_name}\" _at)  # (no IN_LIST: install scripts run without the project's policies)
    file(GLOB_RECURSE _files \"\${_dest}/\${_name}/*\")  # a model's files, or none left (empty folders)
    if(_at EQUAL -1 AND IS_DIRECTORY \"\${_dest}/\${_name}\" AND (EXISTS \"\${_dest}/\${_name}/card.json\" OR NOT _files))
      file(REMOVE_RECURSE \"\${_dest}/\${_name}\")
      message(STATUS \"Removed: \${_dest}/\${_name} (a model no longer shipped)\")
    endif()
  endforeach()
  string(REPLACE \";\" \"\\n\" _lines \"\${_shipped}\")
  file(WRITE \"\${_dest}/.shipped.part\" \"\${_lines}\\n\")
  file(RENAME \"\${_dest}/.shipped.part\" \"\${_dest}/.shipped\")
")
