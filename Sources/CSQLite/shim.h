#ifndef JZ_CSQLITE_SHIM_H
#define JZ_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
