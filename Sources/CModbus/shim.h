#pragma once
#include <errno.h>
#include <modbus/modbus.h>

// The EMBX* macros do not import into Swift; expose the base as a function.
static inline int cmodbus_exception_base(void) { return MODBUS_ENOBASE; }
static inline int cmodbus_errno(void) { return errno; }

// libmodbus's own error codes (EMBBADCRC …) are macros built on EMBXGTAR and do not import into
// Swift; these return them so errno can be classified without copying magic numbers.
static inline int cmodbus_error_bad_crc(void) { return EMBBADCRC; }
static inline int cmodbus_error_bad_data(void) { return EMBBADDATA; }
static inline int cmodbus_error_bad_exception(void) { return EMBBADEXC; }
static inline int cmodbus_error_unknown_exception(void) { return EMBUNKEXC; }
static inline int cmodbus_error_too_much_data(void) { return EMBMDATA; }
static inline int cmodbus_error_bad_slave(void) { return EMBBADSLAVE; }
