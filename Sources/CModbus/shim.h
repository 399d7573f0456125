#pragma once
#include <errno.h>
#include <modbus/modbus.h>

// The EMBX* macros do not import into Swift; expose the base as a function.
static inline int cmodbus_exception_base(void) { return MODBUS_ENOBASE; }
static inline int cmodbus_errno(void) { return errno; }
