#pragma once
#include <sqlite3.h>

/* SQLITE_TRANSIENT and SQLITE_STATIC are macros that cast an integer to a function pointer, which
   Swift cannot import; these return them as values. TRANSIENT tells SQLite to copy a bound value
   before the bind call returns, so a Swift string's temporary buffer may go away afterwards. */
static inline sqlite3_destructor_type meteragent_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type meteragent_sqlite_static(void) { return SQLITE_STATIC; }
