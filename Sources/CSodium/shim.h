#ifndef JZ_CSODIUM_SHIM_H
#define JZ_CSODIUM_SHIM_H
#include <sodium.h>
#endif
