# Writes ${OUT} (version.h) from ${IN} with the current git revision, at build time, and
# only when the text changes, so `kmon --version` never shows a stale revision and an
# unchanged revision rebuilds nothing.
execute_process(COMMAND git describe --always --dirty --abbrev=12
                WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE KMON_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT KMON_REVISION)
  set(KMON_REVISION unknown)
endif()
configure_file(${IN} ${OUT}.tmp @ONLY)
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
